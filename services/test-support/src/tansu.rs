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

/// A running tansu; killed when dropped. Its folder stays (a restart reuses it).
pub struct Tansu {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tansu {
    /// Starts tansu on 127.0.0.1:`port` with its store `dir/tansu.db` (and its log
    /// `dir/broker.log`), and waits until it listens.
    pub fn start(dir: &Path, port: u16) -> io::Result<Tansu> {
        let binary = binary().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "tansu is not installed (scripts/test installs it)",
            )
        })?;
        std::fs::create_dir_all(dir)?;
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))?;
        let child = Command::new(binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
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
        Ok(broker)
    }

    /// Where clients connect: `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// As a crash would: SIGKILL, then started again on the same storage and port.
    pub fn restart_after(mut self, down: Duration) -> io::Result<Tansu> {
        self.kill();
        std::thread::sleep(down);
        Tansu::start(&self.dir.clone(), self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}
