//! Crash-safe file writing, the one implementation every artifact, report and score file uses.
//!
//! Bytes go to a new temporary file beside the target; committing flushes it to disk, renames it
//! over the target and flushes the folder, so a crash at any moment leaves either the old file
//! or the complete new one, never a mix. A writer dropped without committing removes its
//! temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Distinguishes temporary files made by one process.
static NEXT_TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// A file being written; it appears at its path only when [`AtomicFile::commit`] succeeds.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    folder: PathBuf,
    temporary: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates the folder if needed and opens a fresh temporary sibling of `path`.
    ///
    /// The temporary file is created exclusively (`O_EXCL`): an existing file or symbolic link
    /// with the same name is never followed or reused.
    pub fn create(path: &Path) -> io::Result<Self> {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&folder)?;
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let mut attempts = 0;
        loop {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.subsec_nanos());
            let temporary = folder.join(format!(
                ".{file_name}.{}-{}-{nanos:08x}.tmp",
                std::process::id(),
                NEXT_TEMPORARY.fetch_add(1, Ordering::Relaxed)
            ));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        path: path.to_path_buf(),
                        folder,
                        temporary,
                        file: Some(file),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The path the file will have once committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the bytes to disk, renames the file into place and persists the rename.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Err(io::Error::other("the temporary file is already closed"));
        };
        file.flush()?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temporary, &self.path)?;
        // Persist the rename itself; not every platform can open a folder, hence `ok()`.
        if let Ok(directory) = File::open(&self.folder) {
            directory.sync_all().ok();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buffer),
            None => Err(io::Error::other("the temporary file is already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed: the target is untouched and the partial temporary file goes away.
        if self.file.take().is_some() {
            fs::remove_file(&self.temporary).ok();
        }
    }
}

/// Writes `bytes` to `path` crash-safely (see [`AtomicFile`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_replaces_the_target_and_leaves_no_temporary_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nested/out.txt");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names_in(&folder.path().join("nested")), vec!["out.txt"]);
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_target_and_no_temporary_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("out.txt");
        write_atomically(&path, b"old").unwrap();
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(b"half of the new conte").unwrap();
            // Dropped here, as when a write fails or the process unwinds.
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names_in(folder.path()), vec!["out.txt"]);
    }

    #[test]
    fn temporary_names_never_repeat() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("out.txt");
        let first = AtomicFile::create(&path).unwrap();
        let second = AtomicFile::create(&path).unwrap();
        assert_ne!(first.temporary, second.temporary);
    }
}
