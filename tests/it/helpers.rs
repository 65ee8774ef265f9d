//! Shared helpers: temp workspaces with a config file, and running the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::io::Write;

pub const BIN: &str = env!("CARGO_BIN_EXE_mentiond");

/// The repository root (where `config.example.toml` and `examples/` live).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp dir holding a config file; the database and outbox live next to it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.toml"), config).expect("write config");
        Workspace { dir }
    }

    /// A workspace using the repository's `config.example.toml`.
    pub fn example() -> Workspace {
        let text =
            std::fs::read_to_string(repo().join("config.example.toml")).expect("example config");
        Workspace::new(&text)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write file");
        p
    }

    /// Runs `mentiond --config <config> args...`.
    pub fn run(&self, args: &[&str]) -> Output {
        run_with_stdin(&self.config(), args, None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run_with_stdin(&self.config(), args, Some(stdin))
    }

    /// As [`Workspace::run_stdin`], with input that need not be UTF-8.
    pub fn run_stdin_bytes(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with_input(&self.config(), args, Some(stdin))
    }

    pub async fn store(&self) -> mentiond::store::Store {
        let config = mentiond::config::Config::load(&self.config()).expect("config");
        mentiond::store::Store::open(&config.storage.database)
            .await
            .expect("store")
    }
}

pub fn run_with_stdin(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run_with_input(config, args, stdin.map(str::as_bytes))
}

pub fn run_with_input(config: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(config).args(args);
    cmd.env("RUST_LOG", "warn");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mentiond");
    // Fed from another thread: a large input written here while the child fills its stdout or
    // stderr pipe would leave both waiting on each other.
    let feeder = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            // The child may stop reading early (an error): a broken pipe is its answer.
            let _ = pipe.write_all(&input);
        })
    });
    let out = child.wait_with_output().expect("wait for mentiond");
    if let Some(f) = feeder {
        f.join().expect("stdin feeder");
    }
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One JSONL line with the required fields.
pub fn line(source: &str, id: &str, text: &str, created_at: &str) -> String {
    serde_json::json!({"source": source, "external_id": id, "text": text, "created_at": created_at})
        .to_string()
}
