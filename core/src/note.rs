//! C2SP signed notes with Ed25519 keys (docs/FORMAT.md, "Signed checkpoint").
//!
//! A signed note is a text ending in a newline, a blank line, and one line
//! per signature: `— <key name> <base64(key ID ‖ signature)>`. The key ID is
//! the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), 0x01 being
//! the Ed25519 signature type. Keys are written as in Go's
//! `golang.org/x/mod/sumdb/note`, so the same files work with that ecosystem:
//! verifier `name+hash+base64(0x01 ‖ public key)`, signer
//! `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`, `hash` being the key ID as 8
//! lower-case hex digits.
//!
//! Verification follows the C2SP rules: signatures by unknown keys are
//! ignored, a signature by a known key that does not verify rejects the note,
//! and a note with no verified signature by a known key is not proven.
//!
//! Reading is strict: a note has one text only. Anything C2SP or Go's
//! `sumdb/note` would refuse is refused here with the reason (a carriage
//! return, a control character, a missing final newline, an empty line in
//! the text or among the signatures, a signature line that is not exactly
//! `— NAME BASE64` with canonical base64), and so are notes over
//! [`MAX_NOTE_BYTES`] or with more than [`MAX_SIGNATURES`] signatures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::chain::to_hex;

/// The signature type byte of Ed25519 in C2SP signed notes.
const ED25519: u8 = 0x01;
/// A signature line starts with an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// At most this many signature lines are read. C2SP asks verifiers for a
/// limit of at least 16; Go's `sumdb/note` and Cloudflare's `signed_note` use 100.
pub const MAX_SIGNATURES: usize = 100;
/// The largest note read, in bytes (Cloudflare's `signed_note` and
/// `tlog_checkpoint` use the same bound). A checkpoint with 100 signatures
/// by keys with long names is under 40 kB.
pub const MAX_NOTE_BYTES: usize = 1_000_000;

/// Why a key or note could not be read, or a note not verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteError(pub String);

impl std::fmt::Display for NoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoteError {}

fn err<T>(m: impl Into<String>) -> Result<T, NoteError> {
    Err(NoteError(m.into()))
}

/// A key name is non-empty UTF-8 without whitespace or `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(char::is_whitespace)
        && !name.chars().any(char::is_control)
}

/// First 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public);
    let d: [u8; 32] = h.finalize().into();
    [d[0], d[1], d[2], d[3]]
}

/// A key that can check signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// `name+hash+base64(0x01 ‖ public key)`.
    pub fn to_text(&self) -> String {
        let mut k = vec![ED25519];
        k.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, to_hex(&self.id), STANDARD.encode(k))
    }

    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return err(
                "a verifier key looks like NAME+HASH+BASE64 (the .pub file `auditlens keygen` writes)",
            );
        };
        if name == "PRIVATE" {
            return err("this is a private (signing) key; give the public key, the .pub file");
        }
        let public = decode_key(name, hash, key)?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError("the verifier key is not a valid Ed25519 public key".into()))?;
        let id = key_id(name, &public);
        if to_hex(&id) != hash.to_ascii_lowercase() {
            return err(
                "the verifier key's hash does not match its name and key: the key text is damaged",
            );
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// Checks one signature over `text`.
    pub fn verifies(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text, &sig).is_ok()
    }
}

/// Checks NAME and HASH of a key text and returns the 32 key bytes after the type byte.
fn decode_key(name: &str, hash: &str, key: &str) -> Result<[u8; 32], NoteError> {
    if !valid_name(name) {
        return err(format!(
            "bad key name {name:?}: it must be non-empty, without spaces or '+'"
        ));
    }
    let raw = STANDARD
        .decode(key)
        .map_err(|_| NoteError("the key is not valid base64".into()))?;
    if raw.len() != 33 || raw[0] != ED25519 {
        return err("the key is not an Ed25519 key (type 0x01 and 32 bytes)");
    }
    let bytes: [u8; 32] = raw[1..].try_into().expect("33 bytes");
    if hash.len() != 8 || crate::chain::from_hex(hash).is_none() {
        return err(format!("bad key hash {hash:?}: expected 8 hex digits"));
    }
    Ok(bytes)
}

/// A key that can sign: the Ed25519 seed and its name.
pub struct SignerKey {
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({})", self.name)
    }
}

impl SignerKey {
    /// A new key from the operating system's entropy source.
    pub fn generate(name: &str) -> Result<SignerKey, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| NoteError(format!("the operating system gave no randomness: {e}")))?;
        SignerKey::from_seed(name, &seed)
    }

    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<SignerKey, NoteError> {
        if !valid_name(name) {
            return err(format!(
                "bad key name {name:?}: it must be non-empty, without spaces or '+'"
            ));
        }
        Ok(SignerKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(seed),
        })
    }

    pub fn verifier(&self) -> VerifierKey {
        let public = self.key.verifying_key();
        VerifierKey {
            name: self.name.clone(),
            id: key_id(&self.name, public.as_bytes()),
            key: public,
        }
    }

    /// `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`.
    pub fn to_text(&self) -> String {
        let mut k = vec![ED25519];
        k.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            to_hex(&self.verifier().id),
            STANDARD.encode(k)
        )
    }

    pub fn parse(text: &str) -> Result<SignerKey, NoteError> {
        let text = text.trim();
        let Some(rest) = text.strip_prefix("PRIVATE+KEY+") else {
            return err(
                "a signing key starts with PRIVATE+KEY+ (the key file `auditlens keygen` writes, not its .pub)",
            );
        };
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return err("a signing key looks like PRIVATE+KEY+NAME+HASH+BASE64");
        };
        let seed = decode_key(name, hash, key)?;
        let k = SignerKey::from_seed(name, &seed)?;
        if to_hex(&k.verifier().id) != hash.to_ascii_lowercase() {
            return err(
                "the signing key's hash does not match its name and key: the file is damaged",
            );
        }
        Ok(k)
    }

    /// One signature line for `text` (without its newline).
    fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut b = self.verifier().id.to_vec();
        b.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}", self.name, STANDARD.encode(b))
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub id: [u8; 4],
    pub signature: Vec<u8>,
}

/// A note: its text (newline-terminated) and its signatures, possibly none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// The outcome of checking a note's signatures against a set of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureCheck {
    /// Names of known keys whose signature verified.
    pub verified: Vec<String>,
    /// Names of known keys whose signature did NOT verify (the note is rejected).
    pub failed: Vec<String>,
    /// Names on signatures by keys not given (ignored).
    pub unknown: Vec<String>,
}

impl SignatureCheck {
    /// C2SP: no failing known key, and at least one verifying known key.
    pub fn accepted(&self) -> bool {
        self.failed.is_empty() && !self.verified.is_empty()
    }
}

impl Note {
    /// Signs `text` (which must end in a newline and hold no blank line).
    pub fn sign(text: &str, signer: &SignerKey) -> Result<Note, NoteError> {
        check_text(text)?;
        let line = signer.signature_line(text);
        let sig = parse_signature_line(&line)?;
        Ok(Note {
            text: text.to_string(),
            signatures: vec![sig],
        })
    }

    /// The note as text: the body, then a blank line and the signature lines if any.
    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        if !self.signatures.is_empty() {
            s.push('\n');
            for sig in &self.signatures {
                let mut b = sig.id.to_vec();
                b.extend_from_slice(&sig.signature);
                s.push_str(&format!(
                    "{SIG_PREFIX}{} {}\n",
                    sig.name,
                    STANDARD.encode(b)
                ));
            }
        }
        s
    }

    /// Reads a note. A text with no blank line is an unsigned note (an
    /// auditlens checkpoint from before signatures); otherwise the text ends
    /// at its first blank line (it holds none, so this is also C2SP's last
    /// blank line) and every line after it must be a signature line.
    pub fn parse(msg: &str) -> Result<Note, NoteError> {
        check_chars(msg)?;
        let Some(split) = msg.find("\n\n") else {
            check_text(msg)?;
            return Ok(Note {
                text: msg.to_string(),
                signatures: vec![],
            });
        };
        let text = &msg[..split + 1];
        check_text(text)?;
        let first_sig_line = text.lines().count() + 2;
        let block = &msg[split + 2..];
        if block.is_empty() {
            return err("the note has a blank line but no signature line after it");
        }
        let mut signatures = Vec::new();
        for (i, line) in block.split_terminator('\n').enumerate() {
            let n = first_sig_line + i;
            if line.is_empty() {
                return err(format!(
                    "line {n} is an empty line among the signature lines (only one blank line, \
                     before the signatures, is allowed)"
                ));
            }
            if signatures.len() == MAX_SIGNATURES {
                return err(format!(
                    "the note has more than {MAX_SIGNATURES} signatures (the most auditlens reads)"
                ));
            }
            signatures
                .push(parse_signature_line(line).map_err(|e| NoteError(format!("line {n}: {e}")))?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// Checks the signatures against `keys` (see [`SignatureCheck::accepted`]).
    pub fn check(&self, keys: &[VerifierKey]) -> SignatureCheck {
        let mut out = SignatureCheck::default();
        for sig in &self.signatures {
            match keys.iter().find(|k| k.name == sig.name && k.id == sig.id) {
                None => out.unknown.push(sig.name.clone()),
                Some(k) if k.verifies(self.text.as_bytes(), &sig.signature) => {
                    out.verified.push(sig.name.clone())
                }
                Some(_) => out.failed.push(sig.name.clone()),
            }
        }
        out
    }
}

/// Checks what every note (and every checkpoint) must be as a whole: not
/// empty, at most [`MAX_NOTE_BYTES`], no carriage return (a file whose line
/// ends were converted to CRLF is another text, and its signature no longer
/// covers it), no other control character, and a final newline.
pub fn check_chars(msg: &str) -> Result<(), NoteError> {
    if msg.is_empty() {
        return err("the text is empty");
    }
    if msg.len() > MAX_NOTE_BYTES {
        return err(format!(
            "the text is larger than {MAX_NOTE_BYTES} bytes (the most auditlens reads as a \
             checkpoint or signed note)"
        ));
    }
    let line_of = |i: usize| msg[..i].matches('\n').count() + 1;
    if let Some(i) = msg.find('\r') {
        return err(format!(
            "line {} holds a carriage return (CRLF line ends?): checkpoints use LF line ends \
             only; use the file exactly as auditlens wrote it",
            line_of(i)
        ));
    }
    if let Some((i, c)) = msg
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\n')
    {
        return err(format!(
            "line {} holds a control character (U+{:04X})",
            line_of(i),
            c as u32
        ));
    }
    if !msg.ends_with('\n') {
        return err("the text does not end with a newline (was it cut short or edited?)");
    }
    Ok(())
}

/// Reads a small text file a person names (a checkpoint, a signed note, a
/// key): at most [`MAX_NOTE_BYTES`] ([`crate::small_file`]). Errors name the file.
pub fn read_small_file(path: &std::path::Path) -> Result<String, String> {
    use crate::small_file::{self, SmallFileError};
    let fail = |m: String| format!("{}: {m}", path.display());
    let bytes = small_file::read(path, MAX_NOTE_BYTES as u64).map_err(|e| match e {
        SmallFileError::Io(e) => fail(e.to_string()),
        SmallFileError::TooLarge => fail(format!(
            "the file is larger than {MAX_NOTE_BYTES} bytes (the most auditlens reads as a \
             key, checkpoint or signed note)"
        )),
    })?;
    text_of(&bytes).map(str::to_owned).map_err(|e| fail(e.0))
}

/// The text of a note or checkpoint file's bytes: at most [`MAX_NOTE_BYTES`], UTF-8.
pub fn text_of(bytes: &[u8]) -> Result<&str, NoteError> {
    if bytes.len() > MAX_NOTE_BYTES {
        return err(format!(
            "the file is larger than {MAX_NOTE_BYTES} bytes (the most auditlens reads as a \
             checkpoint or signed note)"
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        NoteError(format!(
            "the text is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// A line quoted in a message, cut short: a wrong file can have long lines.
pub(crate) fn quoted(line: &str) -> String {
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{:?}…", &line[..i]),
        None => format!("{line:?}"),
    }
}

/// A note's text ends in a newline and holds no empty line (so the signature
/// block is unambiguous) and no control character other than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return err("the note text must end with a newline");
    }
    let empty_line = if text.starts_with('\n') {
        Some(1)
    } else {
        text.find("\n\n")
            .map(|i| text[..i].matches('\n').count() + 2)
    };
    if let Some(n) = empty_line {
        return err(format!(
            "line {n} is empty: the note text holds no empty line"
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return err("the note text contains a control character");
    }
    Ok(())
}

/// One signature line, exactly `— NAME BASE64` (canonical base64 of the key
/// ID and at least one signature byte).
fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let bad = |why: &str| {
        NoteError(format!(
            "malformed signature line {}: {why} (a signature line is `\u{2014} NAME BASE64`)",
            quoted(line)
        ))
    };
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| bad("it does not start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad("no space between the key name and the signature"))?;
    if !valid_name(name) {
        return Err(bad("the key name is empty or holds a space or '+'"));
    }
    if b64.contains(' ') {
        return Err(bad("more than one space"));
    }
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| bad("the signature is not canonical base64"))?;
    if raw.len() < 5 {
        return Err(bad("the signature is shorter than a key ID and one byte"));
    }
    Ok(NoteSignature {
        name: name.to_string(),
        id: raw[..4].try_into().expect("4 bytes"),
        signature: raw[4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "example.com/log\n42\nqINS1GRFhWHwdkUeqLEoP4ifJvLbAkm7zy+2q/zl5Lw=\n";

    fn signer(name: &str, byte: u8) -> SignerKey {
        SignerKey::from_seed(name, &[byte; 32]).unwrap()
    }

    #[test]
    fn keys_round_trip_through_text() {
        let s = signer("auditor.example", 7);
        let t = s.to_text();
        assert!(t.starts_with("PRIVATE+KEY+auditor.example+"), "{t}");
        let back = SignerKey::parse(&t).unwrap();
        assert_eq!(back.verifier(), s.verifier());
        let v = s.verifier().to_text();
        assert!(v.starts_with("auditor.example+"), "{v}");
        assert_eq!(VerifierKey::parse(&v).unwrap(), s.verifier());
        assert_eq!(VerifierKey::parse(&format!("{v}\n")).unwrap(), s.verifier());
    }

    #[test]
    fn bad_key_texts_are_refused_with_a_reason() {
        let s = signer("a", 1);
        let v = s.verifier().to_text();
        let p = s.to_text();
        assert!(VerifierKey::parse(&p).unwrap_err().0.contains("private"));
        assert!(SignerKey::parse(&v).unwrap_err().0.contains("PRIVATE+KEY"));
        assert!(VerifierKey::parse("nope").is_err());
        // The hash binds the name: renaming a key damages it.
        assert!(
            VerifierKey::parse(&v.replacen("a+", "b+", 1))
                .unwrap_err()
                .0
                .contains("damaged")
        );
        // A damaged hash in a private key is caught.
        let mut parts: Vec<&str> = p.split('+').collect();
        parts[3] = "00000000";
        assert!(
            SignerKey::parse(&parts.join("+"))
                .unwrap_err()
                .0
                .contains("damaged")
        );
        assert!(SignerKey::from_seed("has space", &[0; 32]).is_err());
        assert!(SignerKey::from_seed("plus+sign", &[0; 32]).is_err());
        assert!(SignerKey::from_seed("", &[0; 32]).is_err());
    }

    #[test]
    fn signed_note_verifies_and_every_c2sp_rule_holds() {
        let a = signer("a.example", 1);
        let b = signer("b.example", 2);
        let note = Note::sign(TEXT, &a).unwrap();
        let text = note.to_text();
        assert!(text.starts_with(TEXT));
        assert!(text[TEXT.len()..].starts_with("\n\u{2014} a.example "));
        let parsed = Note::parse(&text).unwrap();
        assert_eq!(parsed, note);
        // Known key verifies.
        assert!(parsed.check(&[a.verifier()]).accepted());
        // Unknown keys are ignored: with only b given, nothing verifies.
        let c = parsed.check(&[b.verifier()]);
        assert!(!c.accepted());
        assert_eq!(c.unknown, vec!["a.example".to_string()]);
        // Both keys given, only a signed: accepted.
        assert!(parsed.check(&[b.verifier(), a.verifier()]).accepted());
        // A known key with a bad signature rejects, even next to a good one.
        let mut two = parsed.clone();
        two.signatures
            .push(Note::sign(TEXT, &b).unwrap().signatures[0].clone());
        two.signatures[1].signature[0] ^= 1;
        let c = two.check(&[a.verifier(), b.verifier()]);
        assert!(!c.accepted());
        assert_eq!(c.failed, vec!["b.example".to_string()]);
        // A changed text no longer verifies.
        let mut edited = parsed.clone();
        edited.text = edited.text.replace("42", "43");
        assert!(!edited.check(&[a.verifier()]).accepted());
        // Same name, another key (another key id): unknown, not a failure.
        let impostor = signer("a.example", 9);
        let forged = Note::sign(TEXT, &impostor).unwrap();
        let c = forged.check(&[a.verifier()]);
        assert!(!c.accepted() && c.failed.is_empty() && c.unknown.len() == 1);
    }

    #[test]
    fn unsigned_and_malformed_notes() {
        let n = Note::parse(TEXT).unwrap();
        assert!(n.signatures.is_empty());
        assert!(!n.check(&[signer("a", 1).verifier()]).accepted());
        assert!(Note::parse("no newline").is_err());
        assert!(Note::parse(&format!("{TEXT}\n")).is_err());
        assert!(Note::parse(&format!("{TEXT}\n- a AAAAAAAA\n")).is_err());
        assert!(Note::parse(&format!("{TEXT}\n\u{2014} a !!!\n")).is_err());
        assert!(Note::parse(&format!("{TEXT}\n\u{2014} a AAAA\n")).is_err());
        assert!(Note::sign("two\n\nparts\n", &signer("a", 1)).is_err());
        assert!(Note::sign("no newline", &signer("a", 1)).is_err());
    }

    #[test]
    fn size_and_encoding_limits() {
        let big = format!(
            "{TEXT}\n{}",
            "\u{2014} a AAAAAAAA\n".repeat(MAX_NOTE_BYTES / 10)
        );
        assert!(
            Note::parse(&big)
                .unwrap_err()
                .0
                .contains("larger than 1000000 bytes")
        );
        assert!(
            text_of(big.as_bytes())
                .unwrap_err()
                .0
                .contains("larger than")
        );
        assert!(text_of(b"ok\n\xff\n").unwrap_err().0.contains("not UTF-8"));
        assert_eq!(text_of(TEXT.as_bytes()).unwrap(), TEXT);
        // The message quotes a long line cut short.
        let long = format!("{TEXT}\n- {}\n", "x".repeat(10_000));
        assert!(Note::parse(&long).unwrap_err().0.len() < 400);
    }

    /// Go's note package and C2SP compute the key ID this way; pinned so a
    /// change shows up (the value is also in tests/vectors/proofs-v1.json).
    #[test]
    fn key_id_is_sha256_of_name_newline_type_and_key() {
        let s = signer("a.example", 1);
        let v = s.verifier();
        let mut h = Sha256::new();
        h.update(b"a.example\n\x01");
        h.update(v.key.as_bytes());
        let d: [u8; 32] = h.finalize().into();
        assert_eq!(v.id, d[..4]);
    }
}
