//! A tansu broker of the caller's own: on a port of its own, its SQLite storage in a folder of
//! its own, so restarting it (or filling it with a benchmark's backlog) disturbs nobody else.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tansu binary: on the PATH, or where `cargo install` puts it.
pub fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|path| path.exists());
    let installed = std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin/tansu"));
    on_path.or(installed.filter(|path| path.exists()))
}

fn installed() -> io::Result<PathBuf> {
    binary().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "tansu is not installed (scripts/test installs it)",
        )
    })
}

/// A running tansu; killed when dropped. Its folder stays (a restart reuses it).
pub struct Tansu {
    child: Child,
    port: u16,
    dir: PathBuf,
    listener: Listener,
}

/// How a tansu listens, beyond its port.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listener {
    /// Clients must authenticate with SASL/SCRAM as a user made by [`Tansu::create_user`].
    pub authentication: bool,
    /// The port advertised to clients, when they reach the broker through something in front of
    /// it (a TLS terminator); the listening port when absent.
    pub advertised_port: Option<u16>,
}

impl Tansu {
    /// Starts tansu on 127.0.0.1:`port` with its store `dir/tansu.db` (and its log
    /// `dir/broker.log`), and waits until it listens.
    pub fn start(dir: &Path, port: u16) -> io::Result<Tansu> {
        Self::start_with(dir, port, Listener::default())
    }

    /// [`Tansu::start`], listening as `listener` says.
    pub fn start_with(dir: &Path, port: u16, listener: Listener) -> io::Result<Tansu> {
        std::fs::create_dir_all(dir)?;
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = format!(
            "tcp://127.0.0.1:{}",
            listener.advertised_port.unwrap_or(port)
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))?;
        let mut command = Command::new(installed()?);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
        ]);
        if listener.authentication {
            command.arg("--authentication");
        }
        let child = command
            // Relative to the working directory, as tansu reads it.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut broker = Tansu {
            child,
            port,
            dir: dir.to_owned(),
            listener,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = broker.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "tansu exited ({status}); see {}",
                    dir.join("broker.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "tansu did not listen within 30 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        index_headers(&dir.join("tansu.db"))?;
        Ok(broker)
    }

    /// Stores a SCRAM-SHA-512 user. tansu takes it only from a client it need not authenticate,
    /// so make users before restarting it with [`Listener::authentication`].
    pub fn create_user(&self, name: &str, password: &str) -> io::Result<()> {
        let status = Command::new(installed()?)
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--mechanism", "scram512", name, password])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "tansu user create {name}: {status}"
            )))
        }
    }

    /// The same broker and store on the same port, restarted to listen as `listener` says.
    pub fn restarted_with(mut self, listener: Listener) -> io::Result<Tansu> {
        self.kill();
        Tansu::start_with(&self.dir.clone(), self.port, listener)
    }

    /// Where clients connect: `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// As a crash would: SIGKILL, then started again on the same storage and port.
    pub fn restart_after(mut self, down: Duration) -> io::Result<Tansu> {
        self.kill();
        std::thread::sleep(down);
        Tansu::start_with(&self.dir.clone(), self.port, self.listener)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What tansu 0.6's SQLite schema lacks: an index on the records' headers. tansu looks a record's
/// headers up once for every record it fetches, by `(topition, offset_id)`, in a table with no
/// index on those columns, so every fetch scans every header of every topic it holds. A store
/// of 100,000 messages then spends seconds on each fetch, and since one request at a time
/// reaches the store, heartbeats and offset commits wait behind it until the group coordinator
/// drops the consumer (see the README's benchmark notes). Apache Kafka has no such cost.
pub const HEADER_INDEX: &str =
    "create index if not exists header_record on header (topition, offset_id)";

/// Adds [`HEADER_INDEX`] to the store `db` of a running tansu (which has made its tables by the
/// time it listens), through Python's standard `sqlite3` module: the store is a plain SQLite
/// file, and the tests need Python already.
pub fn index_headers(db: &Path) -> io::Result<()> {
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             db = sqlite3.connect(sys.argv[1], timeout=30)\n\
             db.execute(sys.argv[2])\n\
             db.commit()",
        ])
        .arg(db)
        .arg(HEADER_INDEX)
        .stdin(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "could not index the headers of {} ({status})",
            db.display()
        )))
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}
