//! Checks of a table's header row, shared by the training loader and the batch scorer, so that
//! a file refused by one is refused by the other.

use std::path::{Path, PathBuf};

/// Two header columns share a name: which one holds the feature would be a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` line 1: column `{column}` appears twice (columns {first} and {second})")]
pub struct DuplicateColumn {
    /// The file.
    pub path: PathBuf,
    /// The repeated name.
    pub column: String,
    /// 1-based position of the first.
    pub first: usize,
    /// 1-based position of the second.
    pub second: usize,
}

/// Refuses a header in which a column name appears twice; `path` names the file in the error.
pub fn check_unique_columns(path: &Path, names: &[String]) -> Result<(), DuplicateColumn> {
    for (idx, name) in names.iter().enumerate() {
        if let Some(first) = names[..idx].iter().position(|other| other == name) {
            return Err(DuplicateColumn {
                path: path.to_path_buf(),
                column: name.clone(),
                first: first + 1,
                second: idx + 1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_name_is_refused_with_both_positions() {
        let names = |list: &[&str]| {
            list.iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>()
        };
        assert!(check_unique_columns(Path::new("a.csv"), &names(&["x", "y"])).is_ok());
        let error = check_unique_columns(Path::new("a.csv"), &names(&["x", "y", "x"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`a.csv` line 1: column `x` appears twice (columns 1 and 3)"
        );
    }
}
