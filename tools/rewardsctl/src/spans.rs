//! Where each value of a JSON text starts (line and column), by JSON pointer, so a problem found
//! in the parsed value can be shown at its place in the file. serde_json keeps no positions, so
//! this is a small scanner over text that serde_json has already accepted.

use std::collections::HashMap;

/// A 1-based line and column (columns count characters, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// The start of every value in a JSON text, by JSON pointer (`""` is the whole document).
#[derive(Debug, Default)]
pub struct Spans {
    starts: HashMap<String, Position>,
}

impl Spans {
    /// Scans `text`. Text that is not JSON gives whatever was found before the problem.
    pub fn of(text: &str) -> Spans {
        let mut scanner = Scanner {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            column: 1,
            spans: Spans::default(),
        };
        scanner.value(String::new());
        scanner.spans
    }

    /// Where the value at `pointer` starts; for a pointer that is not in the text (a field that is
    /// missing), where its nearest existing ancestor starts, and the pointer of that ancestor.
    pub fn locate<'a>(&self, pointer: &'a str) -> Option<(Position, &'a str)> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.starts.get(p) {
                return Some((*pos, p));
            }
            if p.is_empty() {
                return None;
            }
            p = &p[..p.rfind('/').unwrap_or(0)];
        }
    }
}

struct Scanner {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    spans: Spans,
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn value(&mut self, pointer: String) -> bool {
        self.skip_ws();
        let here = Position {
            line: self.line,
            column: self.column,
        };
        self.spans.starts.insert(pointer.clone(), here);
        match self.peek() {
            Some('{') => self.object(&pointer),
            Some('[') => self.array(&pointer),
            Some('"') => self.string().is_some(),
            Some(_) => {
                while matches!(self.peek(), Some(c) if !matches!(c, ',' | '}' | ']' | ' ' | '\t' | '\n' | '\r'))
                {
                    self.bump();
                }
                true
            }
            None => false,
        }
    }

    fn object(&mut self, pointer: &str) -> bool {
        self.bump();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.bump();
                    return true;
                }
                Some('"') => {}
                _ => return false,
            }
            let Some(key) = self.string() else {
                return false;
            };
            self.skip_ws();
            if self.bump() != Some(':') {
                return false;
            }
            if !self.value(format!("{pointer}/{}", escape(&key))) {
                return false;
            }
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some('}') => return true,
                _ => return false,
            }
        }
    }

    fn array(&mut self, pointer: &str) -> bool {
        self.bump();
        let mut index = 0usize;
        loop {
            self.skip_ws();
            if self.peek() == Some(']') {
                self.bump();
                return true;
            }
            if !self.value(format!("{pointer}/{index}")) {
                return false;
            }
            index += 1;
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some(']') => return true,
                _ => return false,
            }
        }
    }

    /// A string literal, decoded (keys must compare equal to serde_json's).
    fn string(&mut self) -> Option<String> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump()? {
                '"' => return Some(out),
                '\\' => match self.bump()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let unit = self.hex4()?;
                        if (0xD800..0xDC00).contains(&unit) && self.peek() == Some('\\') {
                            self.bump();
                            self.bump();
                            let low = self.hex4()?;
                            let c = 0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00));
                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                        } else {
                            out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                        }
                    }
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v * 16 + self.bump()?.to_digit(16)?;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn every_value_has_its_start() {
        let text =
            "{\n  \"a\": {\"b\": [1, \"x\", {\"c/d\": null}]},\n  \"e~\": \"\\u4e2d\\\"\"\n}";
        let s = Spans::of(text);
        assert_eq!(s.locate(""), Some((pos(1, 1), "")));
        assert_eq!(s.locate("/a"), Some((pos(2, 8), "/a")));
        assert_eq!(s.locate("/a/b/1"), Some((pos(2, 18), "/a/b/1")));
        assert_eq!(s.locate("/a/b/2/c~1d"), Some((pos(2, 31), "/a/b/2/c~1d")));
        assert_eq!(s.locate("/e~0"), Some((pos(3, 9), "/e~0")));
    }

    #[test]
    fn a_missing_field_points_at_its_nearest_ancestor() {
        let s = Spans::of("{\"merchant\": {\"mname\": \"m\"}}");
        assert_eq!(
            s.locate("/merchant/mcallbackUrl"),
            Some((pos(1, 14), "/merchant"))
        );
        assert_eq!(s.locate("/nope/deeper"), Some((pos(1, 1), "")));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let s = Spans::of("{\"标题\": \"新人\", \"x\": 1}");
        assert_eq!(s.locate("/x").map(|p| p.0), Some(pos(1, 19)));
    }

    #[test]
    fn broken_text_never_panics() {
        for text in ["", "{", "{\"a\"", "[1,", "\"\\u12", "{\"a\":}", "]"] {
            let _ = Spans::of(text);
        }
    }
}
