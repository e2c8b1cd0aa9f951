//! The free-text index a search uses once it is ready: the search sidecar
//! beside the archive (`ARCHIVE.search.sqlite`, on disk, ready at once on the
//! next open), or, where the sidecar cannot be written (a read-only folder,
//! evidence at its name, an unsealed export), the core's in-memory index.
//! Until one is ready a search reads the records.

use std::path::{Path, PathBuf};

use auditlens_core::archive::search_sidecar::{self as sidecar, Found, Head, Sidecar, TrustedFile};
use auditlens_core::job::Job;
use auditlens_core::row_index::{self as index, Index};
use auditlens_core::text_search::{self as search, SearchIndex};

/// A ready free-text index.
#[derive(Debug)]
pub enum TextIndex {
    /// On disk: narrows a search; the records decide each hit.
    Sidecar(Sidecar),
    /// In memory: answers a search exactly.
    Memory(SearchIndex),
}

/// Where the check of the search sidecar's file stands: it runs from the
/// document's open, beside the row index's load.
#[derive(Debug)]
pub enum SidecarCheck {
    Running,
    /// Its outcome: the file, trusted, or what was found instead.
    Done(Result<TrustedFile, Found>),
}

/// What the text-index task brings back.
pub struct Ready {
    pub index: TextIndex,
    /// A sidecar built by this task and its SHA-256: the viewer remembers
    /// it, and trusts that file on the next open only while it is unchanged.
    pub built: Option<(PathBuf, String)>,
    /// Why the sidecar could not be used or written, to show once.
    pub notice: Option<String>,
}

impl TextIndex {
    /// Per index position: the rank of the Resource column.
    pub fn resource_rank(&self) -> &[u32] {
        match self {
            TextIndex::Sidecar(s) => &s.resource_rank,
            TextIndex::Memory(m) => &m.resource_rank,
        }
    }

    /// Can this index decide (Memory) or narrow (Sidecar) this lower-cased needle?
    pub fn supports(&self, needle: &str) -> bool {
        match self {
            TextIndex::Sidecar(_) => sidecar::supports(needle),
            TextIndex::Memory(_) => search::supports(needle),
        }
    }

    /// The positions among `candidates` (in position order) that may
    /// contain `needle`; for the in-memory index, exactly those that do.
    pub fn filter(&self, ix: &Index, needle: &str, candidates: &[u32]) -> Result<Vec<u32>, String> {
        match self {
            TextIndex::Memory(m) => Ok(m.filter(needle, candidates)),
            TextIndex::Sidecar(s) => {
                let hits = s.hits(needle)?;
                let mut hits = hits.iter().filter_map(|&q| ix.position(q)).peekable();
                Ok(candidates
                    .iter()
                    .copied()
                    .filter(|&p| {
                        while hits.next_if(|&h| h < p).is_some() {}
                        hits.peek() == Some(&p)
                    })
                    .collect())
            }
        }
    }

    /// Whether a hit still needs its record read to be sure.
    pub fn exact(&self) -> bool {
        matches!(self, TextIndex::Memory(_))
    }
}

/// Fewest characters of a search that no ready index answers (the
/// sidecar's trigrams need three) before it reads the records one by one,
/// when there are more than [`SHORT_SEARCH_ENTRIES`] of them to read.
pub const MIN_SEARCH_CHARS: usize = 3;

/// Up to this many entries, a search of one or two characters still reads
/// their records (about a second); above, it waits for a third character,
/// as code search tools do: at a million entries such a search read every
/// record for 20–45 s and matched nearly all of them.
pub const SHORT_SEARCH_ENTRIES: usize = 100_000;

/// Does the search `needle` wait for more characters, rather than read the
/// records of `entries()` entries (those passing the other filters), more
/// than `limit` ([`SHORT_SEARCH_ENTRIES`])? Only when no ready index answers
/// it at once: the in-memory index answers any needle exactly; the sidecar
/// (or no index yet) leaves a short one to the records.
pub fn search_waits(
    text: Option<&TextIndex>,
    needle: &str,
    entries: impl FnOnce() -> usize,
    limit: usize,
) -> bool {
    let short = !needle.is_empty() && needle.chars().nth(MIN_SEARCH_CHARS - 1).is_none();
    let answered =
        matches!(text, Some(TextIndex::Memory(_))) && search::supports(&needle.to_lowercase());
    short && !answered && entries() > limit
}

/// Finds or builds the text index of the archive at `archive` (read for
/// display), opened from `opened`. For a sealed archive: the sidecar beside
/// it if this viewer built that very file (`trusted`, its SHA-256) for the
/// archive as it is now; else a new sidecar; else (it cannot be written) the
/// in-memory index, with a notice. `checked` is the sidecar's file already
/// checked ([`TrustedFile::open`], from the document's open), if it was.
pub fn find_or_build(
    archive: &Path,
    sidecar_at: Option<&Path>,
    trusted: Option<&str>,
    checked: Option<Result<TrustedFile, Found>>,
    ix: &Index,
    job: &Job,
) -> Result<Ready, String> {
    let mut notice = None;
    if let Some(dest) = sidecar_at {
        let head = Head::of_indexed(&index::open_unmapped(archive)?, ix)?;
        let found = match checked {
            Some(Ok(file)) => file.for_head(&head, ix.len()),
            Some(Err(found)) => found,
            None => Sidecar::open(dest, &head, trusted, ix.len()),
        };
        if let Found::Usable(s) = found {
            return Ok(Ready {
                index: TextIndex::Sidecar(*s),
                built: None,
                notice: None,
            });
        }
        match sidecar::build(archive, dest, ix, job) {
            Ok(digest) => match Sidecar::open(dest, &head, Some(&digest), ix.len()) {
                Found::Usable(s) => {
                    return Ok(Ready {
                        index: TextIndex::Sidecar(*s),
                        built: Some((dest.to_path_buf(), digest)),
                        notice: None,
                    });
                }
                Found::Missing => notice = Some(format!("{} vanished", dest.display())),
                Found::Unusable(why) => notice = Some(format!("{}: {why}", dest.display())),
            },
            Err(_) if job.is_cancelled() => return Err("cancelled".into()),
            Err(e) => notice = Some(e),
        }
    }
    let notice = notice.map(|why| {
        format!(
            "the search index could not be saved beside the archive ({why}); \
             searches read the records until the index in memory is built, \
             and it is built again on every open"
        )
    });
    let m = SearchIndex::build(archive, ix, job)?;
    Ok(Ready {
        index: TextIndex::Memory(m),
        built: None,
        notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One or two characters wait above the limit, unless the in-memory
    /// index answers them; three never wait; nor an empty search.
    #[test]
    fn short_searches_wait_above_the_limit() {
        let memory = TextIndex::Memory(SearchIndex::default());
        let many = || 1_000_000;
        for needle in ["a", "pr", "é", "\"\n"] {
            assert!(
                search_waits(None, needle, many, SHORT_SEARCH_ENTRIES),
                "{needle:?}"
            );
            assert!(!search_waits(None, needle, || 50_000, SHORT_SEARCH_ENTRIES));
        }
        assert!(!search_waits(
            Some(&memory),
            "pr",
            many,
            SHORT_SEARCH_ENTRIES
        ));
        // The in-memory index leaves a quote to the records.
        assert!(search_waits(
            Some(&memory),
            "\"",
            many,
            SHORT_SEARCH_ENTRIES
        ));
        for needle in ["", "pro", "été"] {
            assert!(
                !search_waits(None, needle, many, SHORT_SEARCH_ENTRIES),
                "{needle:?}"
            );
        }
    }
}
