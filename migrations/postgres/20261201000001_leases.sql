-- Leases: several daemons on one database share the work. Each (source, query) is polled, and
-- alerts are evaluated, by the instance holding its lease; a lease not renewed within its
-- period (the instance died) is taken over by another.
CREATE TABLE leases (
    name       text PRIMARY KEY,          -- poll:<source id>:<query>, alerts
    holder     text NOT NULL,             -- host:pid:random of the instance
    expires_at timestamptz NOT NULL
);
