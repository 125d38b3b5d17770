//! A CSV file's bytes normalised in place and indexed by record, so that polars can parse any
//! run of records and every error can name the line an editor shows.
//!
//! Real files have quirks polars does not handle alone (a byte-order mark, old-Mac CR-only line
//! endings, a stray quote that silently swallows the lines after it). The normalised text has no
//! byte-order mark, ends every record with `\n`, drops blank lines, and is checked against
//! RFC 4180's quoting. It is written over the file's own bytes (it is never longer), so at a
//! million rows the loader holds one copy of the text rather than two.

use std::ops::Range;

/// What is wrong with a file's text, with the editor line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextProblem {
    /// The bytes are not UTF-8; the line of the first invalid byte.
    Encoding { line: usize },
    /// The quoting breaks RFC 4180.
    Quoting { line: usize, reason: String },
}

/// One record's place in the normalised text.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// First byte.
    start: usize,
    /// One past the last byte, before the record's `\n`.
    end: usize,
    /// Editor line the record starts on (a quoted field may span lines).
    line: usize,
}

/// The normalised text and where each record is in it.
#[derive(Debug)]
pub(crate) struct CsvText {
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

impl CsvText {
    /// Normalises a file's bytes: strips a UTF-8 byte-order mark, checks the encoding, unifies
    /// line endings to `\n` (inside quoted fields too), drops lines holding only whitespace and
    /// checks the quoting.
    pub(crate) fn parse(mut bytes: Vec<u8>) -> Result<CsvText, TextProblem> {
        let from = if bytes.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        check_encoding(&bytes[from..])?;
        let mut normaliser = Normaliser::default();
        let mut read = from;
        while read < bytes.len() {
            let byte = bytes[read];
            read += 1;
            // `\r\n` is one line ending, as is `\r` or `\n` alone.
            if byte == b'\r' && bytes.get(read) == Some(&b'\n') {
                read += 1;
            }
            let doubled_quote = byte == b'"' && bytes.get(read) == Some(&b'"');
            if normaliser.in_quotes && doubled_quote {
                read += 1;
            }
            // Every step writes at most as many bytes as it has read, so the text is rewritten
            // in place, behind the reading position.
            normaliser.step(&mut bytes, byte, doubled_quote)?;
        }
        normaliser.finish(bytes)
    }

    /// How many records there are, the header included.
    pub(crate) fn n_records(&self) -> usize {
        self.spans.len()
    }

    /// One record's bytes, without its line ending.
    pub(crate) fn record(&self, record_idx: usize) -> &[u8] {
        let span = self.spans[record_idx];
        &self.bytes[span.start..span.end]
    }

    /// The editor line a record starts on.
    pub(crate) fn line(&self, record_idx: usize) -> usize {
        self.spans[record_idx].line
    }

    /// The text of a run of consecutive records, one per line, for polars to parse.
    pub(crate) fn records(&self, records: Range<usize>) -> &[u8] {
        match (self.spans.get(records.start), records.end.checked_sub(1)) {
            (Some(first), Some(last_idx)) if last_idx >= records.start => {
                &self.bytes[first.start..self.spans[last_idx].end]
            }
            _ => &[],
        }
    }
}

/// The line of the first byte that is not UTF-8, if any.
fn check_encoding(bytes: &[u8]) -> Result<(), TextProblem> {
    let Err(error) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let before = &bytes[..error.valid_up_to()];
    let line = 1 + before
        .iter()
        .enumerate()
        .filter(|(idx, byte)| {
            **byte == b'\n' || (**byte == b'\r' && before.get(idx + 1) != Some(&b'\n'))
        })
        .count();
    Err(TextProblem::Encoding { line })
}

/// The state of the RFC 4180 reading as bytes go by, and where the rewritten text has got to.
struct Normaliser {
    spans: Vec<Span>,
    /// Where the next byte of normalised text goes.
    write: usize,
    /// Where the current record starts in the normalised text.
    record_start: usize,
    /// The editor line the current record starts on, the current line, and the line of the
    /// quote that opened the current quoted field.
    record_line: usize,
    line: usize,
    quote_line: usize,
    in_quotes: bool,
    /// Nothing of the current field has been read yet (a quote here opens a quoted field).
    field_start: bool,
    /// The current field's closing quote has just been read: only `,` or a line end may follow.
    after_quote: bool,
}

impl Default for Normaliser {
    fn default() -> Self {
        Normaliser {
            spans: Vec::new(),
            write: 0,
            record_start: 0,
            record_line: 1,
            line: 1,
            quote_line: 1,
            in_quotes: false,
            field_start: true,
            after_quote: false,
        }
    }
}

impl Normaliser {
    fn put(&mut self, bytes: &mut [u8], byte: u8) {
        bytes[self.write] = byte;
        self.write += 1;
    }

    /// Takes one byte of the file (a line ending as one `\r` or `\n`; a doubled quote inside a
    /// quoted field as one `"` with `doubled_quote`).
    fn step(&mut self, bytes: &mut [u8], byte: u8, doubled_quote: bool) -> Result<(), TextProblem> {
        let newline = byte == b'\r' || byte == b'\n';
        match (self.in_quotes, byte) {
            (true, b'"') if doubled_quote => {
                self.put(bytes, b'"');
                self.put(bytes, b'"');
            }
            (true, b'"') => {
                self.in_quotes = false;
                self.after_quote = true;
                self.put(bytes, b'"');
            }
            (true, _) if newline => {
                self.line += 1;
                self.put(bytes, b'\n');
            }
            (true, _) => self.put(bytes, byte),
            (false, b'"') if self.field_start => {
                self.in_quotes = true;
                self.quote_line = self.line;
                self.field_start = false;
                self.put(bytes, b'"');
            }
            (false, b'"') => {
                return Err(self.quoting(
                    self.line,
                    "a quote inside an unquoted field: quote the whole field and double the quotes inside it",
                ));
            }
            (false, b',') => {
                (self.field_start, self.after_quote) = (true, false);
                self.put(bytes, b',');
            }
            (false, _) if newline => {
                self.line += 1;
                if self.end_record(bytes) {
                    self.put(bytes, b'\n');
                }
                self.record_start = self.write;
                self.record_line = self.line;
                (self.field_start, self.after_quote) = (true, false);
            }
            (false, _) if self.after_quote => {
                return Err(self.quoting(
                    self.line,
                    "text after the closing quote of a field: expected `,` or the end of the line",
                ));
            }
            (false, _) => {
                self.field_start = false;
                self.put(bytes, byte);
            }
        }
        Ok(())
    }

    /// Keeps the current record (true), or takes it back when it is blank.
    fn end_record(&mut self, bytes: &[u8]) -> bool {
        if is_blank(&bytes[self.record_start..self.write]) {
            self.write = self.record_start;
            return false;
        }
        self.spans.push(Span {
            start: self.record_start,
            end: self.write,
            line: self.record_line,
        });
        true
    }

    fn finish(mut self, mut bytes: Vec<u8>) -> Result<CsvText, TextProblem> {
        if self.in_quotes {
            return Err(self.quoting(
                self.quote_line,
                "a quoted field opened on this line is never closed",
            ));
        }
        // The last record may end without a line ending.
        self.end_record(&bytes);
        // Only shortened: the allocation stays as read, so nothing is copied.
        bytes.truncate(self.write);
        Ok(CsvText {
            bytes,
            spans: self.spans,
        })
    }

    fn quoting(&self, line: usize, reason: &str) -> TextProblem {
        TextProblem::Quoting {
            line,
            reason: reason.to_owned(),
        }
    }
}

/// Whether a record holds only whitespace (Unicode's, as `str::trim` sees it).
fn is_blank(record: &[u8]) -> bool {
    match record.first() {
        None => true,
        // The common case, decided by the first byte.
        Some(byte) if byte.is_ascii_graphic() => false,
        // Removing line endings from UTF-8 leaves UTF-8, so the record is text.
        Some(_) => std::str::from_utf8(record).is_ok_and(|text| text.trim().is_empty()),
    }
}

/// Splits one record into fields (RFC 4180 quoting).
pub(crate) fn split_fields(record: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = record.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut field)),
            _ => field.push(ch),
        }
    }
    fields.push(field);
    fields
}

/// How many fields a record has, as [`split_fields`] would split it, without allocating.
pub(crate) fn count_fields(record: &[u8]) -> usize {
    let mut in_quotes = false;
    let mut n_fields = 1;
    for byte in record {
        match byte {
            // A doubled quote inside a quoted field toggles twice, so it changes nothing.
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => n_fields += 1,
            _ => {}
        }
    }
    n_fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CsvText, TextProblem> {
        CsvText::parse(text.as_bytes().to_vec())
    }

    fn record_text(text: &CsvText, record_idx: usize) -> &str {
        std::str::from_utf8(text.record(record_idx)).unwrap()
    }

    #[test]
    fn records_remember_their_editor_lines_for_every_line_ending() {
        for ending in ["\n", "\r\n", "\r"] {
            let file = format!("a,b{ending}1,2{ending}{ending}3,\"x{ending}y\"{ending}4,5{ending}");
            let text = parse(&file).unwrap();
            let lines: Vec<usize> = (0..text.n_records()).map(|idx| text.line(idx)).collect();
            assert_eq!(lines, vec![1, 2, 4, 6], "ending {ending:?}");
            assert_eq!(split_fields(record_text(&text, 2)), vec!["3", "x\ny"]);
            assert_eq!(text.records(1..4), b"1,2\n3,\"x\ny\"\n4,5");
        }
    }

    #[test]
    fn blank_lines_go_and_the_last_line_needs_no_ending() {
        let text = parse("a,b\n \t\n1,2\n\u{a0}\n3,4").unwrap();
        assert_eq!(text.n_records(), 3);
        assert_eq!((text.line(1), text.line(2)), (3, 5));
        assert_eq!(text.records(0..3), b"a,b\n1,2\n3,4");
        assert_eq!(text.records(2..2), b"");
    }

    #[test]
    fn quotes_follow_rfc_4180_and_errors_name_the_line() {
        let text = parse("a,b\n\"x,\"\"y\"\"\",2\n").unwrap();
        assert_eq!(split_fields(record_text(&text, 1)), vec!["x,\"y\"", "2"]);
        assert_eq!(count_fields(text.record(1)), 2);
        let cases = [
            ("a,b\n1,2\"3\n4,5\n", 2, "a quote inside an unquoted field"),
            ("a,b\n\"1\"x,2\n", 2, "text after the closing quote"),
            ("a,b\n1,2\n\"3,4\n5,6\n7,8\n", 3, "never closed"),
        ];
        for (file, line, reason) in cases {
            let Err(TextProblem::Quoting {
                line: found_line,
                reason: found_reason,
            }) = parse(file)
            else {
                panic!("{file:?} was accepted");
            };
            assert_eq!(found_line, line, "{file:?}");
            assert!(found_reason.contains(reason), "{file:?}: {found_reason}");
        }
    }

    #[test]
    fn bom_is_stripped_and_invalid_utf8_names_the_line() {
        let text = CsvText::parse(b"\xEF\xBB\xBFa,b\n1,2\n".to_vec()).unwrap();
        assert_eq!(text.record(0), b"a,b");
        let problem = CsvText::parse(b"a\r\n1\r\n\xFF\n".to_vec()).unwrap_err();
        assert_eq!(problem, TextProblem::Encoding { line: 3 });
    }

    #[test]
    fn field_counts_match_the_split() {
        for record in ["", "a", "a,b", "\"a,b\",c", "\"x\"\"y\",,", ",", "\"\""] {
            assert_eq!(
                count_fields(record.as_bytes()),
                split_fields(record).len(),
                "{record:?}"
            );
        }
    }
}
