//! Reading a rule directory into a [`RuleSource`]: `rules.toml`, every
//! `*.rhai` next to it and every `tests/*.toml`.

use std::path::Path;

use super::FileError;
use crate::engine::RuleSource;

pub fn read_rule_dir(dir: &Path) -> Result<RuleSource, FileError> {
    let mut src = RuleSource::default();
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| FileError::new(p, e));
    if !dir.join("rules.toml").is_file() {
        return Err(FileError::new(dir, " has no rules.toml"));
    }
    for (sub, ext) in [("", "toml"), ("", "rhai"), ("tests", "toml")] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .map_err(|e| FileError::new(&d, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if sub.is_empty() && ext == "toml" && name != "rules.toml" {
                continue;
            }
            let key = if sub.is_empty() { name } else { format!("{sub}/{name}") };
            src.files.insert(key, read(&p)?);
        }
    }
    Ok(src)
}
