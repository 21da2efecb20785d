//! Output for people (aligned tables, key/value blocks, a QR code) and for scripts (JSON, CSV).

use serde_json::Value;
use std::fmt::Write as _;

/// Display width of a string: CJK and full-width characters take two columns.
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = (0x1100..=0x115F).contains(&u)
                || (0x2E80..=0xA4CF).contains(&u)
                || (0xAC00..=0xD7A3).contains(&u)
                || (0xF900..=0xFAFF).contains(&u)
                || (0xFE30..=0xFE4F).contains(&u)
                || (0xFF00..=0xFF60).contains(&u)
                || (0xFFE0..=0xFFE6).contains(&u)
                || (0x1F300..=0x1FAFF).contains(&u)
                || (0x20000..=0x3FFFD).contains(&u);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

/// An aligned table with a header row; empty tables print the header and `(none)`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// A [`table`] with a row for each element of the JSON array `list` (no rows when it is not an array).
pub fn list_table(headers: &[&str], list: &Value, row: impl Fn(&Value) -> Vec<String>) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default();
    table(headers, &rows)
}

/// `key  value` lines, keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{k}{}  {v}", " ".repeat(w - width(k)));
    }
    out
}

/// `keys` of a record, each as its text under its own name.
pub fn as_is<'a>(record: &Value, keys: &[&'a str]) -> Vec<(&'a str, String)> {
    keys.iter().map(|k| (*k, text(record.get(*k)))).collect()
}

/// A record's `createdAt` and `updatedAt`, in Beijing time.
pub fn stamps(record: &Value) -> [(&'static str, String); 2] {
    [
        ("created", beijing(record.get("createdAt"))),
        ("updated", beijing(record.get("updatedAt"))),
    ]
}

/// A value as table text: strings bare, null as `-`, others as JSON.
pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Epoch milliseconds as Beijing time (`yyyy-MM-dd HH:mm:ss`), the time the operators use.
pub fn beijing(ms: Option<&Value>) -> String {
    let Some(ms) = ms.and_then(Value::as_i64) else {
        return "-".into();
    };
    let Ok(utc) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
    else {
        return ms.to_string();
    };
    let bj = utc.to_offset(time::macros::offset!(+8));
    bj.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_else(|_| ms.to_string())
}

/// Fen as yuan text (`200` → `2.00`).
pub fn yuan(fen: Option<&Value>) -> String {
    match fen.and_then(Value::as_i64) {
        Some(f) => format!("{}.{:02}", f / 100, (f % 100).abs()),
        None => "-".into(),
    }
}

/// An amount in fen as `2.00 yuan`, or `-` when there is none.
pub fn yuan_amount(fen: Option<&Value>) -> String {
    match fen {
        Some(Value::Number(_)) => format!("{} yuan", yuan(fen)),
        _ => "-".into(),
    }
}

/// Pretty JSON for `--json`.
pub fn json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A QR code of `data` in terminal characters (two modules a character, dark on light), with
/// its quiet zone, so a phone camera (the Alipay app's scanner) reads it from the screen.
pub fn qr(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// One CSV field (RFC 4180 quoting).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_shows_its_fields_as_is_and_its_stamps_in_beijing_time() {
        let record = json!({"passId": "p1", "status": null, "createdAt": 1_764_000_000_000_i64});
        assert_eq!(
            as_is(&record, &["passId", "status", "userId"]),
            [
                ("passId", "p1".to_owned()),
                ("status", "-".into()),
                ("userId", "-".into())
            ]
        );
        assert_eq!(
            stamps(&record),
            [
                ("created", "2025-11-25 00:00:00".to_owned()),
                ("updated", "-".into())
            ]
        );
    }

    #[test]
    fn tables_align_wide_characters() {
        let t = table(
            &["id", "title"],
            &[
                vec!["a".into(), "新人专享券".into()],
                vec!["bbbb".into(), "x".into()],
            ],
        );
        assert_eq!(t, "id    title\na     新人专享券\nbbbb  x\n");
        assert_eq!(table(&["id"], &[]), "id\n(none)\n");
        let list = json!([{"id": "a"}, {"id": "bb"}]);
        let ids = |v: &Value| vec![text(v.get("id"))];
        assert_eq!(list_table(&["id"], &list, ids), "id\na\nbb\n");
        assert_eq!(list_table(&["id"], &Value::Null, ids), "id\n(none)\n");
    }

    #[test]
    fn times_money_and_csv() {
        assert_eq!(beijing(Some(&json!(0))), "1970-01-01 08:00:00");
        assert_eq!(yuan(Some(&json!(205))), "2.05");
        assert_eq!(yuan_amount(Some(&json!(205))), "2.05 yuan");
        assert_eq!(yuan_amount(Some(&Value::Null)), "-");
        assert_eq!(yuan_amount(None), "-");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn a_qr_code_is_square_text() {
        let q = qr("http://127.0.0.1:9999/sim/campaigns/C1/pay").unwrap();
        let lines: Vec<&str> = q.lines().collect();
        assert!(lines.len() > 10);
        assert!(lines
            .iter()
            .all(|l| l.chars().count() == lines[0].chars().count()));
    }
}
