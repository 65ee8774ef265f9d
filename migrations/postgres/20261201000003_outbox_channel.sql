-- Chat and webhook messages go through the outbox like e-mails: `channel` names the
-- [[channels]] entry (NULL: an e-mail); `message` then holds the JSON body to POST.
ALTER TABLE outbox ADD COLUMN channel text;
