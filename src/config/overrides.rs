//! `--set section.key=value`: edits the parsed TOML table before it is deserialised, so an
//! override goes through exactly the same checks as the file.

use super::ConfigError;

/// Applies one `section.key=value` to `table`. The value is read as a TOML value (`0.05`, `true`,
/// `[100, 200]`, `"B"`); anything that does not parse as one is taken as a string, so
/// `--set data.source=cifar10` works without quotes.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigError> {
    let bad = |message: String| ConfigError::Parse {
        origin: format!("--set {item}"),
        message,
    };
    let (path, raw) = item
        .split_once('=')
        .ok_or_else(|| bad("expected section.key=value, e.g. optim.lr=0.05".into()))?;
    let (section, key) = path.trim().split_once('.').ok_or_else(|| {
        bad(format!(
            "`{path}` is not section.key (sections: model, data, optim, run, ui)"
        ))
    })?;
    if section.is_empty() || key.is_empty() || key.contains('.') {
        return Err(bad(format!("`{path}` is not section.key")));
    }
    let value = parse_value(raw.trim());
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let section_table = entry
        .as_table_mut()
        .ok_or_else(|| bad(format!("`{section}` is not a table in the config file")))?;
    section_table.insert(key.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    toml::from_str::<toml::Table>(&wrapped)
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_strings_and_arrays_parse() {
        let mut t = toml::Table::new();
        apply_override(&mut t, "optim.lr=0.05").unwrap();
        apply_override(&mut t, "data.source=cifar10").unwrap();
        apply_override(&mut t, "optim.milestones=[10, 20]").unwrap();
        assert_eq!(t["optim"]["lr"].as_float(), Some(0.05));
        assert_eq!(t["data"]["source"].as_str(), Some("cifar10"));
        assert_eq!(t["optim"]["milestones"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn malformed_items_are_errors() {
        let mut t = toml::Table::new();
        assert!(apply_override(&mut t, "optim.lr").is_err());
        assert!(apply_override(&mut t, "lr=0.1").is_err());
        assert!(apply_override(&mut t, "a.b.c=1").is_err());
    }
}
