//! A development issuer: an ES256 key pair of its own that mints tokens for local runs and
//! tests, so that they go through exactly the checks production does. Its issuer name is under
//! `.invalid`, a top-level domain that can never resolve, so no real deployment trusts it by
//! accident.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{AuthError, AuthSettings, Role};

pub struct DevIssuer {
    stored: Stored,
    public_point: Vec<u8>,
}

/// What `dev-issuer.json` holds. The private key never leaves the machine it was made on.
#[derive(Serialize, Deserialize)]
struct Stored {
    issuer: String,
    audience: String,
    key_id: String,
    /// PKCS#8, base64.
    private_key: String,
}

/// What a minted token says. Tests set the odd fields to get a token that must be refused.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    pub staff_id: Option<String>,
    /// Role names as the token carries them (the roles' codes, unless mapped otherwise).
    pub roles: Vec<String>,
    /// Seconds from now until `exp`; negative for a token that has already expired.
    pub expires_in: i64,
    /// Another issuer or audience than the development issuer's own.
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl TokenRequest {
    /// A token for one person with one role, valid for an hour.
    pub fn new(subject: impl Into<String>, role: Role) -> Self {
        TokenRequest {
            subject: subject.into(),
            staff_id: None,
            roles: vec![role.code().to_owned()],
            expires_in: 3600,
            issuer: None,
            audience: None,
        }
    }

    pub fn staff_id(mut self, staff_id: impl Into<String>) -> Self {
        self.staff_id = Some(staff_id.into());
        self
    }
}

impl DevIssuer {
    /// The development issuer's name; the audience defaults to the service's name.
    pub const ISSUER: &'static str = "https://dev-issuer.peer-outreach.invalid";
    pub const AUDIENCE: &'static str = "peer-outreach";
    const FILE: &'static str = "dev-issuer.json";
    const JWKS_FILE: &'static str = "jwks.json";

    /// A new key pair.
    pub fn generate() -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| AuthError::DevIssuer("generating a key pair failed".into()))?;
        let key_id = format!("dev-{}", uuid::Uuid::new_v4().simple());
        Self::from_stored(Stored {
            issuer: Self::ISSUER.into(),
            audience: Self::AUDIENCE.into(),
            key_id,
            private_key: STANDARD.encode(pkcs8.as_ref()),
        })
    }

    fn from_stored(stored: Stored) -> Result<Self, AuthError> {
        let pkcs8 = STANDARD
            .decode(&stored.private_key)
            .map_err(|_| AuthError::DevIssuer("the private key is not base64".into()))?;
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| AuthError::DevIssuer("the private key is not a P-256 key".into()))?;
        Ok(DevIssuer {
            public_point: pair.public_key().as_ref().to_vec(),
            stored,
        })
    }

    /// The issuer kept in `dir`, made and saved there first if there is none.
    pub fn load_or_generate(dir: &Path) -> Result<Self, AuthError> {
        let file = dir.join(Self::FILE);
        if file.exists() {
            let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
            let stored = serde_json::from_str(&text)
                .map_err(|e| AuthError::DevIssuer(format!("{}: {e}", file.display())))?;
            return Self::from_stored(stored);
        }
        let issuer = Self::generate()?;
        issuer.save(dir)?;
        Ok(issuer)
    }

    /// Writes the key pair (readable by its owner only) and the public key set.
    pub fn save(&self, dir: &Path) -> Result<(), AuthError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let file = dir.join(Self::FILE);
        let text = serde_json::to_string_pretty(&self.stored)
            .map_err(|e| AuthError::DevIssuer(e.to_string()))?;
        write_private(&file, &text)?;
        let jwks = dir.join(Self::JWKS_FILE);
        let text = serde_json::to_string_pretty(&self.jwks_json())
            .map_err(|e| AuthError::DevIssuer(e.to_string()))?;
        std::fs::write(&jwks, text).map_err(|e| io(&jwks, e))
    }

    /// Where [`save`](Self::save) puts the public key set.
    pub fn jwks_path(dir: &Path) -> PathBuf {
        dir.join(Self::JWKS_FILE)
    }

    /// Settings that trust this issuer, its keys read from `dir`.
    pub fn settings(&self, dir: &Path) -> AuthSettings {
        let mut settings = AuthSettings::new(&self.stored.issuer, &self.stored.audience);
        settings.jwks_uri = Some(format!("file:{}", Self::jwks_path(dir).display()));
        settings
    }

    /// Settings that trust this issuer, for use with [`jwks`](Self::jwks) in-process.
    pub fn settings_in_process(&self) -> AuthSettings {
        AuthSettings::new(&self.stored.issuer, &self.stored.audience)
    }

    pub fn jwks(&self) -> JwkSet {
        serde_json::from_value(self.jwks_json()).expect("an EC key set is a JWK set")
    }

    fn jwks_json(&self) -> Value {
        // An uncompressed P-256 point: 0x04, then x and y, 32 bytes each.
        let (x, y) = self.public_point[1..].split_at(32);
        json!({ "keys": [{
            "kty": "EC",
            "crv": "P-256",
            "use": "sig",
            "alg": "ES256",
            "kid": self.stored.key_id,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }

    pub fn mint(&self, request: &TokenRequest) -> Result<String, AuthError> {
        let now = unix_now()?;
        let mut claims = json!({
            "iss": request.issuer.as_deref().unwrap_or(&self.stored.issuer),
            "aud": request.audience.as_deref().unwrap_or(&self.stored.audience),
            "sub": request.subject,
            "iat": now,
            "exp": now + request.expires_in,
            "roles": request.roles,
        });
        if let Some(staff_id) = &request.staff_id {
            claims["staff_id"] = json!(staff_id);
        }
        self.sign(&claims)
    }

    /// An OpenID Connect ID token for `client_id`, carrying the `nonce` the relying party sent
    /// with its authorization request, as [`DevProvider`](crate::DevProvider) issues at sign-in.
    pub fn mint_id_token(
        &self,
        subject: &str,
        client_id: &str,
        nonce: &str,
        expires_in: i64,
    ) -> Result<String, AuthError> {
        let now = unix_now()?;
        self.sign(&json!({
            "iss": self.stored.issuer,
            "aud": client_id,
            "sub": subject,
            "nonce": nonce,
            "iat": now,
            "exp": now + expires_in,
        }))
    }

    fn sign(&self, claims: &Value) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.stored.key_id.clone());
        let pkcs8 = STANDARD
            .decode(&self.stored.private_key)
            .map_err(|_| AuthError::DevIssuer("the private key is not base64".into()))?;
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&pkcs8))
            .map_err(|e| AuthError::DevIssuer(e.to_string()))
    }

    /// The issuer's name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.stored.issuer
    }
}

fn unix_now() -> Result<i64, AuthError> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| AuthError::DevIssuer(e.to_string()))?
        .as_secs() as i64)
}

fn io(path: &Path, error: std::io::Error) -> AuthError {
    AuthError::DevIssuer(format!("{}: {error}", path.display()))
}

fn write_private(path: &Path, text: &str) -> Result<(), AuthError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| io(path, e))
}
