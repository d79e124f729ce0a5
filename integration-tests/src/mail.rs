//! Reading what the test's SMTP server (aiosmtpd, `outreach_test_support::SmtpServer`) stored.

use outreach_outbound::{SmtpSettings, SmtpTls};

/// The service's settings for the test's SMTP server on `port`.
pub fn smtp(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        from: "Peer Support Program <peer-support@hospital.example>".into(),
        username: None,
        password: None,
        tls: SmtpTls::None,
    }
}

/// A stored message's recipient (as the envelope named it), subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The whole message, headers included, its body decoded.
    pub raw: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let normalised = raw.replace("\r\n", "\n");
        let (headers, body) = normalised.split_once("\n\n").unwrap_or((&normalised, ""));
        let header = |name: &str| {
            headers
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let body = if header("Content-Transfer-Encoding").eq_ignore_ascii_case("quoted-printable") {
            let decoded = quoted_printable::decode(body, quoted_printable::ParseMode::Robust)
                .expect("a robust decode does not fail");
            String::from_utf8_lossy(&decoded).replace("\r\n", "\n")
        } else {
            body.to_owned()
        };
        Mail {
            to: header("X-RcptTo"),
            subject: header("Subject"),
            raw: format!("{headers}\n\n{body}"),
            body,
        }
    }
}

/// Every message the server took, parsed.
pub fn mails(server: &outreach_test_support::SmtpServer) -> Vec<Mail> {
    server.messages().iter().map(|m| Mail::parse(m)).collect()
}
