//! A real SMTP server for tests: Python's aiosmtpd, started per test on a free port, writing
//! every message it accepts to a Maildir the test reads. `scripts/test` installs aiosmtpd;
//! without it the tests that need it fail saying so. A test can have it refuse every message
//! for a while ([`SmtpServer::refuse`]), as a relay that is full or rejecting would.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// An aiosmtpd server on a free port, storing what it accepts in a Maildir; stopped and
/// removed with the value.
pub struct SmtpServer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

/// aiosmtpd's Maildir handler, answering every message with the reply in the flag file while
/// it exists.
const REFUSING_HANDLER: &str = r#"
import os
from aiosmtpd.handlers import Mailbox


class Refusing(Mailbox):
    def __init__(self, mail_dir, flag):
        super().__init__(mail_dir)
        self.flag = flag

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0], args[1])

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(self.flag):
            with open(self.flag) as reply:
                return reply.read()
        return await super().handle_DATA(server, session, envelope)
"#;

impl SmtpServer {
    pub fn start() -> Self {
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            available,
            "these tests need Python's aiosmtpd: run `python3 -m pip install aiosmtpd` \
             (scripts/test does it)"
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("peer-outreach-smtp-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        std::fs::write(dir.join("refusing_handler.py"), REFUSING_HANDLER).unwrap();
        let child = Command::new("python3")
            .env("PYTHONPATH", &dir)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "refusing_handler.Refusing"])
            .arg(dir.join("maildir"))
            .arg(dir.join("refuse"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start aiosmtpd");
        let mut server = SmtpServer { port, dir, child };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "aiosmtpd exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {} within 15 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// From now on, answers every message `451` (refused for now: the sender ends its round),
    /// until [`Self::accept`].
    pub fn refuse(&self) {
        self.reply_to_every_message("451 4.3.0 refused by the test: try again later");
    }

    /// From now on, answers every message `550` (refused for good: the sender goes on to its
    /// next message), until [`Self::accept`].
    pub fn refuse_for_good(&self) {
        self.reply_to_every_message("550 5.7.1 refused by the test");
    }

    fn reply_to_every_message(&self, reply: &str) {
        std::fs::write(self.dir.join("refuse"), reply).unwrap();
    }

    /// Takes messages again.
    pub fn accept(&self) {
        let _ = std::fs::remove_file(self.dir.join("refuse"));
    }

    /// Every message accepted so far, as stored.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.join("maildir").join("new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        entries
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on (at the moment it was asked for).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
