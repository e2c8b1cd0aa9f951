//! Verification anchored to a signed checkpoint: the file verified as
//! [`super::verify_file`] does, and the checkpoint's signatures checked
//! against the keys given.

use std::path::Path;

use super::{CheckpointStatus, Report, VerifyError, verify_file};
use crate::checkpoint::Checkpoint;
use crate::finding::{Finding, FindingKind};
use crate::job::Job;
use crate::note::{SignatureCheck, VerifierKey};
use crate::proof::{SidecarReader, SignedCheckpoint};
use crate::source::{self, Format, Source};

/// What was learned about the checkpoint a verification was anchored to.
#[derive(Clone, Debug)]
pub struct AnchorInfo {
    /// "the checkpoint file" or "the export's checkpoint".
    pub what: String,
    pub checkpoint: Checkpoint,
    /// Names on its signature lines.
    pub signers: Vec<String>,
    /// The signature check, when keys were given.
    pub check: Option<SignatureCheck>,
}

/// Verifies a file like [`verify_file`], and checks the
/// signatures of the checkpoint it is anchored to (the one given, else the
/// one an export carries) against `keys`. With keys, a checkpoint no given
/// key signed, a failing signature, or a subset whose entries are not proven
/// is a finding: the file is not proven.
pub fn verify_signed(
    path: &Path,
    checkpoint: Option<&SignedCheckpoint>,
    keys: &[VerifierKey],
    job: &Job,
) -> Result<(Report, Option<AnchorInfo>), VerifyError> {
    let mut report = verify_file(path, checkpoint.map(|c| &c.checkpoint), job)?;
    let (anchor, what) = match checkpoint {
        Some(c) => (Some(c.clone()), "the checkpoint file"),
        None => {
            let format = source::detect(path).map_err(|e| VerifyError::Cannot(e.0))?;
            let text = match format {
                Format::ExportJson | Format::ExportNdjson => Source::open_as(path, format)
                    .map_err(|e| VerifyError::Cannot(e.0))?
                    .header
                    .and_then(|h| h.checkpoint_text),
                Format::ExportCsv => SidecarReader::open_for(path)
                    .map_err(VerifyError::Cannot)?
                    .map(|s| s.checkpoint_text),
                _ => None,
            };
            let anchor = text
                .map(|t| SignedCheckpoint::parse(&t))
                .transpose()
                .map_err(|m| {
                    VerifyError::Cannot(format!("{}: its checkpoint: {m}", path.display()))
                })?;
            (anchor, "the export's checkpoint")
        }
    };
    let mut info = anchor.as_ref().map(|a| AnchorInfo {
        what: what.to_string(),
        checkpoint: a.checkpoint.clone(),
        signers: a.signers(),
        check: None,
    });
    if !keys.is_empty() {
        match (&anchor, info.as_mut()) {
            (Some(a), Some(i)) => {
                let (check, findings) = a.check(keys, what);
                i.check = Some(check);
                for f in findings {
                    report.push_finding(f);
                }
            }
            _ => report.push_finding(Finding::new(
                FindingKind::NotSigned,
                None,
                "keys were given but there is no checkpoint to check them against; give the signed \
                 checkpoint with --checkpoint FILE",
            )),
        }
        let explained = report.counts.iter().any(|(k, n)| {
            *n > 0 && matches!(k, FindingKind::InclusionFailed | FindingKind::Unproven)
        });
        if report.checkpoint == Some(CheckpointStatus::NotCovered) && !explained {
            report.push_finding(Finding::new(
                FindingKind::Unproven,
                None,
                "the entries are not proven against the signed checkpoint: the export carries no \
                 inclusion proofs, or proofs against another checkpoint than the one given (export it \
                 again with this auditlens, or verify without --checkpoint to use the export's own)",
            ));
        }
    }
    Ok((report, info))
}

/// The checkpoint a verification was anchored to and its signature check, as JSON.
pub fn anchor_json(a: Option<&AnchorInfo>) -> serde_json::Value {
    match a {
        None => serde_json::Value::Null,
        Some(a) => serde_json::json!({
            "checkpoint": a.what,
            "origin": a.checkpoint.origin(),
            "size": a.checkpoint.size,
            "signers": a.signers,
            "checked": a.check.is_some(),
            "verified_by": a.check.as_ref().map(|c| c.verified.clone()),
            "failed": a.check.as_ref().map(|c| c.failed.clone()),
            "accepted": a.check.as_ref().map(|c| c.accepted()),
        }),
    }
}
