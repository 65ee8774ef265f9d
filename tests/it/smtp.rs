//! A real SMTP server for the tests, speaking the protocol over TCP on 127.0.0.1: EHLO,
//! STARTTLS or implicit TLS (a self-signed certificate made at start), AUTH PLAIN and LOGIN,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT. Replies can be scripted (a 421, a
//! 550), the 250 after DATA can be held back (to kill the client in between), and the server
//! can be stopped and started again on the same port.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    StartTls,
    Implicit,
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
    pub auth: Option<(String, String)>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// A header's value (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .replace("\r\n ", " ")
            .replace("\r\n\t", " ");
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// What the server does differently from "250 OK".
#[derive(Debug, Default)]
pub struct Script {
    /// Replies to the next DATA commands (after the message), in order.
    pub after_data: VecDeque<(u16, String)>,
    /// Replies to the next RCPT commands, in order.
    pub rcpt: VecDeque<(u16, String)>,
    /// When set, the server waits for this before answering the end of DATA (and stores the
    /// message first: from its side, the message is accepted).
    pub hold_after_data: Option<Arc<Notify>>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    pub mode: Mode,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub script: Arc<Mutex<Script>>,
    /// Notified each time a message has been read (before the reply).
    pub got_data: Arc<Notify>,
    /// PEM of the server's certificate, to trust it (`ca_file`).
    pub cert_pem: String,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    task: Option<tokio::task::JoinHandle<()>>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl SmtpServer {
    pub async fn start(mode: Mode) -> SmtpServer {
        mentiond::tls::install_crypto_provider();
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let cert_pem = cert.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut server = SmtpServer {
            addr: listener.local_addr().unwrap(),
            mode,
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(Script::default())),
            got_data: Arc::new(Notify::new()),
            cert_pem,
            acceptor,
            task: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: TcpListener) {
        let (mode, received, script, got_data, acceptor) = (
            self.mode,
            self.received.clone(),
            self.script.clone(),
            self.got_data.clone(),
            self.acceptor.clone().unwrap(),
        );
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (received, script, got_data, acceptor) = (
                    received.clone(),
                    script.clone(),
                    got_data.clone(),
                    acceptor.clone(),
                );
                tokio::spawn(async move {
                    let _ = session(sock, mode, received, script, got_data, acceptor).await;
                });
            }
        }));
    }

    /// Stops accepting (connections are refused until `restart`).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn write_cert(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let p = dir.join("smtp-ca.pem");
        std::fs::write(&p, &self.cert_pem).unwrap();
        p
    }

    /// The `[email]` section that sends to this server.
    pub fn email_config(&self, dir: &std::path::Path) -> String {
        let tls = match self.mode {
            Mode::Plain => "none",
            Mode::StartTls => "starttls",
            Mode::Implicit => "implicit",
        };
        format!(
            "[email]\ntransport = \"smtp\"\nfrom = \"mentiond <alerts@example.org>\"\nto = [\"marketing@example.org\"]\n\n[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{tls}\"\nca_file = \"{}\"\ntimeout = \"5s\"\n",
            self.addr.port(),
            self.write_cert(dir).display()
        )
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return Some(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            let mut chunk = [0u8; 4096];
            let n = self.io.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn data(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let line = self.line().await?;
            if line == "." {
                return Some(out);
            }
            let line = line.strip_prefix('.').unwrap_or(&line);
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    async fn reply(&mut self, text: &str) -> Option<()> {
        self.io
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .ok()?;
        self.io.flush().await.ok()
    }
}

fn b64(s: &str) -> String {
    use base64_decode::decode;
    String::from_utf8_lossy(&decode(s.trim())).into_owned()
}

/// A tiny base64 decoder: the tests need no extra crate for it.
pub mod base64_decode {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in s.bytes() {
            let Some(v) = val(c) else { continue };
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }
}

async fn session(
    sock: TcpStream,
    mode: Mode,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
    got_data: Arc<Notify>,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Option<()> {
    let mut tls = mode == Mode::Implicit;
    let io: Box<dyn Io> = if tls {
        Box::new(acceptor.accept(sock).await.ok()?)
    } else {
        Box::new(sock)
    };
    let mut c = Conn {
        io,
        buf: Vec::new(),
    };
    c.reply("220 test.local ESMTP mentiond-test").await?;
    let (mut from, mut to, mut auth) = (String::new(), Vec::new(), None);
    loop {
        let line = c.line().await?;
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut caps = vec!["250-test.local", "250-8BITMIME", "250-SIZE 20000000"];
            if mode == Mode::StartTls && !tls {
                caps.push("250-STARTTLS");
            }
            caps.push("250-AUTH PLAIN LOGIN");
            caps.push("250 SMTPUTF8");
            c.reply(&caps.join("\r\n")).await?;
        } else if upper == "STARTTLS" && mode == Mode::StartTls && !tls {
            c.reply("220 2.0.0 Ready to start TLS").await?;
            let Conn { io, .. } = c;
            // Only a plain TCP stream is upgraded; the box holds one here.
            let raw: Box<dyn Io> = io;
            let stream = acceptor.accept(Unboxed(raw)).await.ok()?;
            c = Conn {
                io: Box::new(stream),
                buf: Vec::new(),
            };
            tls = true;
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN") {
            let arg = if rest.trim().is_empty() {
                c.reply("334 ").await?;
                c.line().await?
            } else {
                line["AUTH PLAIN".len()..].trim().to_string()
            };
            let decoded = b64(&arg);
            let parts: Vec<&str> = decoded.split('\0').collect();
            auth = Some((
                parts.get(1).unwrap_or(&"").to_string(),
                parts.get(2).unwrap_or(&"").to_string(),
            ));
            c.reply("235 2.7.0 Authentication successful").await?;
        } else if upper.starts_with("AUTH LOGIN") {
            c.reply("334 VXNlcm5hbWU6").await?;
            let user = b64(&c.line().await?);
            c.reply("334 UGFzc3dvcmQ6").await?;
            let pass = b64(&c.line().await?);
            auth = Some((user, pass));
            c.reply("235 2.7.0 Authentication successful").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..]
                .trim()
                .trim_matches(['<', '>'])
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches(['<', '>'])
                .to_string();
            to.clear();
            c.reply("250 2.1.0 OK").await?;
        } else if upper.starts_with("RCPT TO:") {
            let scripted = script.lock().unwrap().rcpt.pop_front();
            match scripted {
                Some((code, text)) => c.reply(&format!("{code} {text}")).await?,
                None => {
                    to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                    c.reply("250 2.1.5 OK").await?;
                }
            }
        } else if upper == "DATA" {
            c.reply("354 End data with <CR><LF>.<CR><LF>").await?;
            let data = c.data().await?;
            let (scripted, hold) = {
                let mut s = script.lock().unwrap();
                (s.after_data.pop_front(), s.hold_after_data.clone())
            };
            match scripted {
                Some((code, text)) => {
                    got_data.notify_waiters();
                    c.reply(&format!("{code} {text}")).await?;
                }
                None => {
                    received.lock().unwrap().push(Received {
                        from: from.clone(),
                        to: to.clone(),
                        data,
                        tls,
                        auth: auth.clone(),
                    });
                    got_data.notify_waiters();
                    if let Some(h) = hold {
                        h.notified().await;
                    }
                    c.reply("250 2.0.0 OK queued").await?;
                }
            }
        } else if upper == "RSET" || upper == "NOOP" {
            c.reply("250 2.0.0 OK").await?;
        } else if upper == "QUIT" {
            c.reply("221 2.0.0 Bye").await?;
            return Some(());
        } else {
            c.reply("502 5.5.2 Command not recognized").await?;
        }
    }
}

/// Lets a boxed stream be handed to the TLS acceptor.
struct Unboxed(Box<dyn Io>);

impl AsyncRead for Unboxed {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Unboxed {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().0).poll_shutdown(cx)
    }
}
