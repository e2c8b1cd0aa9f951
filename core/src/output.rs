//! The one way auditlens writes a file.
//!
//! Every command and every save in the viewer writes through an [`Output`]:
//! exports and their proof sidecar, the report and its JSON twin, keys,
//! sample data, the ingest rejects file, a new archive, the case file. It is
//! given the files the command reads and one [`Destination`] per file it will
//! write (side files included), and it checks them all before anything is
//! written:
//!
//! - a file the command reads, or one of its side files (journal, case file,
//!   proof sidecar), is never replaced: same file means same device and inode,
//!   so symlinks and hard links count;
//! - evidence, recognised by content ([`crate::evidence`]), is never replaced,
//!   whatever the user agreed to;
//! - any other existing file is replaced only when the user agreed (`--force`,
//!   or the save dialog's own overwrite confirmation).
//!
//! Each file is written into a private temporary folder beside its
//! destination and renamed into place by [`Output::commit`], after the checks
//! run once more. Dropping an `Output` without committing (a failure, a
//! cancel) removes everything it staged: nothing half-written is ever left
//! at a destination, and no temporary file either.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::chain::ArchiveId;
use crate::evidence::{self, CASE_KEY, Evidence};

/// Who is asked before an existing file is replaced, so that a refusal can
/// say how to agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asker {
    /// The command line: `--force`.
    Cli,
    /// The viewer: the system save dialog asks before it returns a file that exists.
    Viewer,
}

/// Where an output goes, and whether the user agreed to replace an existing
/// file there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub path: PathBuf,
    /// `--force`, or a path confirmed by the save dialog. It never lets
    /// evidence or a file the command reads be replaced.
    pub replace: bool,
    pub asker: Asker,
}

impl Destination {
    /// A destination where no existing file may be replaced.
    pub fn new(path: impl Into<PathBuf>) -> Destination {
        Destination::cli(path, false)
    }

    /// A destination on the command line; `force` is `--force`.
    pub fn cli(path: impl Into<PathBuf>, force: bool) -> Destination {
        Destination {
            path: path.into(),
            replace: force,
            asker: Asker::Cli,
        }
    }

    /// A destination in the viewer; `confirmed` when the path came from the
    /// save dialog (which asked before returning an existing file).
    pub fn viewer(path: impl Into<PathBuf>, confirmed: bool) -> Destination {
        Destination {
            path: path.into(),
            replace: confirmed,
            asker: Asker::Viewer,
        }
    }

    /// A side file of this output (the proof sidecar, the report's twin,
    /// the verifier key): the same agreement, another path.
    pub fn side(&self, path: impl Into<PathBuf>) -> Destination {
        Destination {
            path: path.into(),
            ..self.clone()
        }
    }
}

/// Why an output was refused or could not be written. Each message is one
/// line that says what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputError {
    /// The destination is a file the command reads, or one of its side files.
    Reads {
        path: PathBuf,
        what: String,
    },
    /// The destination holds evidence; nothing overrides this.
    Evidence {
        path: PathBuf,
        kind: Evidence,
    },
    /// The destination exists and the user did not agree to replace it.
    Exists {
        path: PathBuf,
        asker: Asker,
    },
    /// The destination exists and this output never replaces anything (a new archive).
    ExistsNever {
        path: PathBuf,
    },
    /// A case file save found something else than this archive's case file.
    NotOwnCaseFile {
        path: PathBuf,
        found: String,
    },
    /// Not a name a file can be written to (a folder, a device, two outputs on one name).
    BadName {
        path: PathBuf,
        why: String,
    },
    Io(String),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Reads { path, what } => write!(
                f,
                "{}: it is {what}, which this command reads; choose another output name",
                path.display()
            ),
            OutputError::Evidence { path, kind } => write!(
                f,
                "{}: it is {kind} (evidence), which auditlens never replaces; choose another output name",
                path.display()
            ),
            OutputError::Exists {
                path,
                asker: Asker::Cli,
            } => write!(f, "{} exists; pass --force to replace it", path.display()),
            OutputError::Exists {
                path,
                asker: Asker::Viewer,
            } => write!(
                f,
                "{} exists; choose another name, or pick it in the save dialog (Browse…) to replace it",
                path.display()
            ),
            OutputError::ExistsNever { path } => write!(
                f,
                "{} already exists; choose a new file name",
                path.display()
            ),
            OutputError::NotOwnCaseFile { path, found } => write!(
                f,
                "{}: it is {found}, not this archive's case file; move it away to keep notes",
                path.display()
            ),
            OutputError::BadName { path, why } => write!(f, "{}: {why}", path.display()),
            OutputError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OutputError {}

/// What an existing file at a destination may be replaced with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Anything that is neither evidence nor read, when the user agreed.
    IfAgreed { agreed: bool, asker: Asker },
    /// Nothing: the file must not exist (a new archive).
    Never,
    /// Only this archive's case file (the viewer's working file).
    OwnCaseFile(ArchiveId),
}

/// A file's identity: device and inode where the system has them, so that a
/// symlink or a hard link to an input is the input.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FileKey {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

fn file_key(path: &Path) -> Option<FileKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| FileKey::Inode(m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(path).ok().map(FileKey::Path)
    }
}

/// `path` with its folder resolved (symlinks, `..`), for comparing names of
/// files that may not exist yet.
fn normalised(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
    Some(dir.join(name))
}

/// A file the command reads, or the name of one of its side files.
struct Guarded {
    /// "A.sqlite itself", "the journal of A.sqlite".
    what: String,
    key: Option<FileKey>,
    name: Option<PathBuf>,
    /// The kind of side file ("case file"), or `None` for the input itself.
    side: Option<&'static str>,
}

/// A file staged in a private folder beside its destination.
struct Stage {
    dir: tempfile::TempDir,
    file: PathBuf,
}

struct Target {
    path: PathBuf,
    rule: Rule,
    stage: Option<Stage>,
}

/// A handle on one destination of an [`Output`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

/// The files one command or one save writes; see the module documentation.
pub struct Output {
    reads: Vec<Guarded>,
    targets: Vec<Target>,
}

impl Output {
    /// An output of work that reads `reads` (inputs, keys, checkpoints).
    /// Their side files are guarded too, by name, existing or not.
    pub fn reading<P: AsRef<Path>>(reads: &[P]) -> Output {
        let mut guarded = Vec::new();
        for input in reads.iter().map(AsRef::as_ref) {
            let shown = input.display().to_string();
            guarded.push(Guarded {
                what: format!("{shown} itself"),
                key: file_key(input),
                name: normalised(input),
                side: None,
            });
            // Side files sit beside the name given and beside the file it
            // resolves to (SQLite puts a journal beside the resolved file).
            let mut bases = vec![input.to_path_buf()];
            if let Ok(real) = std::fs::canonicalize(input)
                && real != input
            {
                bases.push(real);
            }
            for base in bases {
                for (side, path) in evidence::side_files(&base) {
                    guarded.push(Guarded {
                        what: format!("the {side} of {shown}"),
                        key: file_key(&path),
                        name: normalised(&path),
                        side: Some(side),
                    });
                }
            }
        }
        Output {
            reads: guarded,
            targets: Vec::new(),
        }
    }

    /// Adds a destination, checked at once; nothing is written yet.
    pub fn add(&mut self, dest: &Destination) -> Result<Slot, OutputError> {
        let rule = Rule::IfAgreed {
            agreed: dest.replace,
            asker: dest.asker,
        };
        self.push(&dest.path, rule)
    }

    /// Adds a destination that must not exist (a new archive).
    pub fn add_new(&mut self, path: &Path) -> Result<Slot, OutputError> {
        self.push(path, Rule::Never)
    }

    /// Adds the case file of archive `id`: it may replace itself, nothing else.
    pub fn add_case_file(&mut self, path: &Path, id: ArchiveId) -> Result<Slot, OutputError> {
        self.push(path, Rule::OwnCaseFile(id))
    }

    fn push(&mut self, path: &Path, rule: Rule) -> Result<Slot, OutputError> {
        let name = normalised(path);
        if let Some(other) = self
            .targets
            .iter()
            .find(|t| t.path == path || (name.is_some() && normalised(&t.path) == name))
        {
            return Err(OutputError::BadName {
                path: path.to_path_buf(),
                why: format!(
                    "it would be written twice (also as {}); choose another output name",
                    other.path.display()
                ),
            });
        }
        self.check(path, rule)?;
        self.targets.push(Target {
            path: path.to_path_buf(),
            rule,
            stage: None,
        });
        Ok(Slot(self.targets.len() - 1))
    }

    /// The destination of `slot`.
    pub fn path(&self, slot: Slot) -> &Path {
        &self.targets[slot.0].path
    }

    /// The rules of the module documentation, for one destination.
    fn check(&self, path: &Path, rule: Rule) -> Result<(), OutputError> {
        let refuse = |why: &str| {
            Err(OutputError::BadName {
                path: path.to_path_buf(),
                why: why.to_string(),
            })
        };
        if path.file_name().is_none() {
            return refuse("that names no file; give a file name");
        }
        // Many tools take "-" for standard output; an output here is written
        // completely or not at all, under its name, so a file called "-"
        // would only surprise.
        if path.as_os_str() == "-" {
            return refuse(
                "auditlens writes each output completely or not at all, to a named file, \
                 not to standard output; give a file name",
            );
        }
        let key = file_key(path);
        let name = normalised(path);
        for g in &self.reads {
            // A case file save writes the read archive's own case file.
            if matches!(rule, Rule::OwnCaseFile(_)) && g.side == Some("case file") {
                continue;
            }
            let same_file = key.is_some() && g.key == key;
            let same_name = name.is_some() && g.name == name;
            if same_file || same_name {
                return Err(OutputError::Reads {
                    path: path.to_path_buf(),
                    what: g.what.clone(),
                });
            }
        }
        let Ok(link) = std::fs::symlink_metadata(path) else {
            return Ok(()); // nothing there (or nothing we may look at: the write will say)
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => Some(m),
            Err(_) if link.file_type().is_symlink() => None, // a dangling link
            Err(e) => {
                return Err(OutputError::Io(format!(
                    "{}: {e}; choose another output name",
                    path.display()
                )));
            }
        };
        if let Some(m) = &meta {
            if m.is_dir() {
                return refuse("it is a folder; give a file name");
            }
            if !m.is_file() {
                return refuse("it is not a regular file (a device or a pipe); give a file name");
            }
        }
        let kind = match &meta {
            Some(_) => evidence::recognise(path).map_err(|e| {
                OutputError::Io(format!(
                    "{}: cannot read it to make sure it is not evidence ({e}); choose another output name",
                    path.display()
                ))
            })?,
            None => None,
        };
        let path = path.to_path_buf();
        match (rule, kind) {
            (Rule::OwnCaseFile(id), Some(Evidence::CaseFile))
                if case_file_of(&path) == Some(id) =>
            {
                Ok(())
            }
            (Rule::OwnCaseFile(_), found) => Err(OutputError::NotOwnCaseFile {
                found: found
                    .map_or("another file", |k| match k {
                        Evidence::CaseFile => "the case file of another archive",
                        k => k.describe(),
                    })
                    .to_string(),
                path,
            }),
            (_, Some(kind)) => Err(OutputError::Evidence { path, kind }),
            (Rule::Never, None) => Err(OutputError::ExistsNever { path }),
            (Rule::IfAgreed { agreed: true, .. }, None) => Ok(()),
            (Rule::IfAgreed { asker, .. }, None) => Err(OutputError::Exists { path, asker }),
        }
    }

    /// Stages the file of `slot` and opens it for writing (mode 0666 less
    /// the umask, as any new file).
    pub fn create(&mut self, slot: Slot) -> Result<File, OutputError> {
        self.open_staged(slot, 0o666)
    }

    /// Like [`Output::create`], readable by its owner only (mode 0600): keys.
    pub fn create_secret(&mut self, slot: Slot) -> Result<File, OutputError> {
        self.open_staged(slot, 0o600)
    }

    /// Writes `bytes` as the whole file of `slot`.
    pub fn write(&mut self, slot: Slot, bytes: &[u8]) -> Result<(), OutputError> {
        let mut f = self.create(slot)?;
        self.write_to(slot, &mut f, bytes)
    }

    /// Writes `bytes` as the whole file of `slot`, readable by its owner only.
    pub fn write_secret(&mut self, slot: Slot, bytes: &[u8]) -> Result<(), OutputError> {
        let mut f = self.create_secret(slot)?;
        self.write_to(slot, &mut f, bytes)
    }

    fn write_to(&self, slot: Slot, f: &mut File, bytes: &[u8]) -> Result<(), OutputError> {
        std::io::Write::write_all(f, bytes).map_err(|e| self.io_error(slot, e))
    }

    /// Where the file of `slot` is to be made, for writers that want a path
    /// (SQLite): a name in a fresh private folder beside the destination,
    /// nothing there yet. Whatever is made there is renamed into place by
    /// [`Output::commit`].
    pub fn staged_path(&mut self, slot: Slot) -> Result<PathBuf, OutputError> {
        self.stage(slot).map(Path::to_path_buf)
    }

    fn stage(&mut self, slot: Slot) -> Result<&Path, OutputError> {
        let t = &mut self.targets[slot.0];
        if t.stage.is_none() {
            let dir = t
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let folder = tempfile::Builder::new()
                .prefix(STAGE_PREFIX)
                .tempdir_in(dir)
                .map_err(|e| {
                    OutputError::Io(format!(
                        "cannot write in {}: {e}; choose a folder you can write to",
                        dir.display()
                    ))
                })?;
            let file = folder
                .path()
                .join(t.path.file_name().unwrap_or("output".as_ref()));
            t.stage = Some(Stage { dir: folder, file });
        }
        Ok(&t.stage.as_ref().expect("staged above").file)
    }

    fn open_staged(&mut self, slot: Slot, mode: u32) -> Result<File, OutputError> {
        let file = self.stage(slot)?.to_path_buf();
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
        #[cfg(not(unix))]
        let _ = mode;
        opts.open(&file).map_err(|e| self.io_error(slot, e))
    }

    fn io_error(&self, slot: Slot, e: std::io::Error) -> OutputError {
        OutputError::Io(format!(
            "cannot write {}: {e}; nothing was written",
            self.path(slot).display()
        ))
    }

    /// Checks every destination again (the folder may have changed while the
    /// work ran), then moves each staged file into place. Destinations never
    /// staged (a rejects file with no rejects) are left alone. Returns the
    /// paths written.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, OutputError> {
        for t in self.targets.iter().filter(|t| t.stage.is_some()) {
            self.check(&t.path, t.rule)?;
        }
        for t in &self.targets {
            if let Some(s) = &t.stage {
                let sync = OpenOptions::new()
                    .write(true)
                    .open(&s.file)
                    .and_then(|f| f.sync_all());
                sync.map_err(|e| {
                    OutputError::Io(format!(
                        "cannot write {}: {e}; nothing was written",
                        t.path.display()
                    ))
                })?;
            }
        }
        let mut written: Vec<(PathBuf, bool)> = Vec::new();
        for t in &mut self.targets {
            let Some(stage) = t.stage.take() else {
                continue;
            };
            // A destination that did not exist is taken only if it still does
            // not: something that appeared meanwhile is not replaced unasked.
            let existed = std::fs::symlink_metadata(&t.path).is_ok();
            let moved = tempfile::TempPath::try_from_path(&stage.file).and_then(|staged| {
                if existed {
                    staged.persist(&t.path).map_err(|e| e.error)
                } else {
                    staged.persist_noclobber(&t.path).map_err(|e| e.error)
                }
            });
            if let Err(e) = moved {
                // The files this output created are taken back, so that a
                // report never stands without its twin, nor a key without
                // its .pub. (A file it replaced cannot be given back.)
                for (path, _) in written.iter().filter(|(_, new)| *new) {
                    let _ = std::fs::remove_file(path);
                }
                return Err(match e.kind() {
                    std::io::ErrorKind::AlreadyExists => match t.rule {
                        Rule::IfAgreed { asker, .. } => OutputError::Exists {
                            path: t.path.clone(),
                            asker,
                        },
                        _ => OutputError::ExistsNever {
                            path: t.path.clone(),
                        },
                    },
                    _ => OutputError::Io(format!("cannot write {}: {e}", t.path.display())),
                });
            }
            drop(stage.dir);
            written.push((t.path.clone(), !existed));
        }
        Ok(written.into_iter().map(|(p, _)| p).collect())
    }
}

/// The name every staging folder starts with.
const STAGE_PREFIX: &str = ".auditlens-";

/// How long a staging folder must have been left untouched before it is
/// called abandoned: a run still writing touches its file every few seconds.
pub const LEFT_OVER_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// A staging folder left beside a destination by a run that was killed
/// before it could remove it (a power cut, `kill -9`): its partial file is
/// never needed again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOver {
    pub folder: PathBuf,
    /// Bytes of the files in it.
    pub bytes: u64,
}

/// The staging folders in the folder of `destination` that nothing has
/// touched for `idle` or longer. They are only named, never removed: what
/// is in a folder the user owns is theirs to delete.
pub fn left_over(destination: &Path, idle: std::time::Duration) -> Vec<LeftOver> {
    let dir = destination
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    let idle_since = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d >= idle)
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(STAGE_PREFIX) {
            continue;
        }
        let folder = entry.path();
        // Not followed: a link is not a folder this tool made.
        match std::fs::symlink_metadata(&folder) {
            Ok(m) if m.is_dir() && idle_since(&m) => {}
            _ => continue,
        }
        let Ok(inside) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut bytes = 0;
        let mut idle_all = true;
        for f in inside.flatten() {
            match f.metadata() {
                Ok(m) => {
                    bytes += m.len();
                    idle_all &= idle_since(&m);
                }
                Err(_) => idle_all = false,
            }
        }
        if idle_all {
            found.push(LeftOver { folder, bytes });
        }
    }
    found.sort_by(|a, b| a.folder.cmp(&b.folder));
    found
}

/// The archive id a case file names, if it reads as one.
fn case_file_of(path: &Path) -> Option<ArchiveId> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get(CASE_KEY)?;
    v["archive_id"].as_str().and_then(ArchiveId::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A staging folder left by a killed run is named once idle, with its
    /// size, and never removed; a fresh one (a run under way) is not named.
    #[test]
    fn left_over_staging_folders_are_named_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.sqlite");
        let old = dir.path().join(".auditlens-AbC123");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("a.sqlite"), vec![7u8; 1000]).unwrap();
        let fresh = dir.path().join(".auditlens-XyZ789");
        std::fs::create_dir(&fresh).unwrap();
        std::fs::write(fresh.join("a.sqlite"), b"partial").unwrap();
        std::fs::create_dir(dir.path().join("auditlens-not-hidden")).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        let age = |p: &Path| {
            File::open(p)
                .unwrap()
                .set_times(std::fs::FileTimes::new().set_modified(hour_ago))
                .unwrap()
        };
        age(&old.join("a.sqlite"));
        age(&old);
        // A folder made long ago whose file is still being written is in use.
        age(&fresh);
        let found = left_over(&dest, LEFT_OVER_AFTER);
        assert_eq!(
            found,
            vec![LeftOver {
                folder: old.clone(),
                bytes: 1000
            }]
        );
        assert!(old.join("a.sqlite").exists() && fresh.join("a.sqlite").exists());
        assert!(left_over(&dest, std::time::Duration::from_secs(3 * 3600)).is_empty());
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_file_that_appears_while_writing_is_not_replaced_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let mut out = Output::reading::<&Path>(&[]);
        let slot = out.add(&Destination::new(&p)).unwrap();
        out.write(slot, b"ours").unwrap();
        std::fs::write(&p, b"theirs").unwrap();
        let e = out.commit().unwrap_err();
        assert!(matches!(e, OutputError::Exists { .. }), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"theirs");
        assert_eq!(names(dir.path()), ["out.txt"]);
    }

    #[test]
    fn evidence_that_appears_while_writing_is_refused_even_when_agreed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        std::fs::write(&p, b"old notes").unwrap();
        let mut out = Output::reading::<&Path>(&[]);
        let slot = out.add(&Destination::cli(&p, true)).unwrap();
        out.write(slot, b"ours").unwrap();
        let key = crate::note::SignerKey::from_seed("k", &[1; 32]).unwrap();
        std::fs::write(&p, key.to_text()).unwrap();
        let e = out.commit().unwrap_err();
        assert!(
            matches!(
                e,
                OutputError::Evidence {
                    kind: Evidence::PrivateKey,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), key.to_text());
        assert_eq!(names(dir.path()), ["out.txt"]);
    }

    #[test]
    fn the_case_file_replaces_itself_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.sqlite");
        std::fs::write(&archive, b"stands for the archive").unwrap();
        let case = crate::case::case_path(&archive);
        let id = ArchiveId::random();
        let mut c = crate::case::CaseFile::new(id);
        c.mark_mut(1, "e1").bookmarked = true;
        c.save(&case).unwrap();
        c.mark_mut(2, "e2").note = "again".into();
        c.save(&case).unwrap();
        assert_eq!(
            crate::case::CaseFile::load(&case, id).unwrap().marks.len(),
            2
        );
        // Another archive's case file at that name is not this one's to replace.
        let other = crate::case::CaseFile::new(ArchiveId::random());
        let e = other.save(&case).unwrap_err();
        assert!(e.contains("the case file of another archive"), "{e}");
        // Nor is a platform export, nor (through a link) the archive itself.
        std::fs::remove_file(&case).unwrap();
        std::fs::write(&case, b"[{\"id\":\"e1\"}]").unwrap();
        let e = c.save(&case).unwrap_err();
        assert!(e.contains("a JSON platform export"), "{e}");
        std::fs::remove_file(&case).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&archive, &case).unwrap();
            let e = c.save(&case).unwrap_err();
            assert!(e.contains("itself, which this command reads"), "{e}");
            assert_eq!(std::fs::read(&archive).unwrap(), b"stands for the archive");
        }
    }

    #[test]
    fn a_dash_is_not_taken_for_a_file_named_dash() {
        let mut out = Output::reading::<&Path>(&[]);
        let e = out.add(&Destination::new(Path::new("-"))).unwrap_err();
        assert!(e.to_string().contains("not to standard output"), "{e}");
        // A file in a folder may still be called "-".
        let dir = tempfile::tempdir().unwrap();
        assert!(out.add(&Destination::new(dir.path().join("-"))).is_ok());
    }

    #[test]
    fn two_outputs_on_one_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        let mut out = Output::reading::<&Path>(&[]);
        out.add(&Destination::new(&p)).unwrap();
        let e = out
            .add(&Destination::new(dir.path().join(".").join("r.json")))
            .unwrap_err();
        assert!(matches!(e, OutputError::BadName { .. }), "{e}");
    }

    #[test]
    fn keys_are_private_and_a_dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let mut out = Output::reading::<&Path>(&[]);
        let slot = out.add(&Destination::new(&p)).unwrap();
        out.write_secret(slot, b"PRIVATE+KEY+x").unwrap();
        drop(out);
        assert!(names(dir.path()).is_empty());
        let mut out = Output::reading::<&Path>(&[]);
        let slot = out.add(&Destination::new(&p)).unwrap();
        out.write_secret(slot, b"PRIVATE+KEY+x").unwrap();
        out.commit().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(names(dir.path()), ["k"]);
    }
}
