//! Request bodies parsed strictly, straight from the JSON text.
//!
//! A record keeps its fields in the order given and remembers every key that appears more than
//! once: JSON parsers usually keep the last duplicate silently, which would let a client's
//! `{"PL": 148, "PL": 0}` be scored on a value it may not have meant. Duplicates become
//! validation errors naming the key, as strict JSON validators report them. Record ids are
//! kept as the exact text sent (a 21-digit number is echoed digit for digit), and arrays are
//! counted while they are read, so an oversized batch is refused before it is all parsed.

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value as Json;
use serde_json::value::RawValue;

/// The start of the error a too-long array raises while it is read.
pub const TOO_MANY_ITEMS: &str = "too many records";

/// A record id as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdValue {
    /// A JSON string, unescaped.
    Text(String),
    /// A JSON number, as its exact text.
    Number(String),
    /// `null`.
    Null,
    /// Anything else, by its JSON type name.
    Other(&'static str),
}

impl IdValue {
    fn from_raw(raw: &str) -> Self {
        let raw = raw.trim();
        match raw.as_bytes().first() {
            Some(b'"') => {
                serde_json::from_str(raw).map_or(IdValue::Other("a string"), IdValue::Text)
            }
            Some(b'-' | b'0'..=b'9') => IdValue::Number(raw.to_owned()),
            Some(b'n') => IdValue::Null,
            Some(b't' | b'f') => IdValue::Other("a boolean"),
            Some(b'[') => IdValue::Other("an array"),
            Some(b'{') => IdValue::Other("an object"),
            _ => IdValue::Other("an unknown value"),
        }
    }

    /// The id text to echo, or why it is not an id: a string, or an integral number (as JSON
    /// Schema counts integers: `7`, `7.0`, `1e3`), kept as sent.
    pub fn echo(&self) -> Result<Option<String>, &'static str> {
        match self {
            IdValue::Text(text) => Ok(Some(text.clone())),
            IdValue::Number(text) => {
                let integral = match text.parse::<f64>() {
                    Ok(value) if value.is_finite() => value.fract() == 0.0,
                    // Beyond f64: integral unless it has a fraction or a negative exponent.
                    _ => !text.contains('.') && !text.to_ascii_lowercase().contains("e-"),
                };
                if integral {
                    Ok(Some(text.clone()))
                } else {
                    Err("a number with a fraction")
                }
            }
            IdValue::Null => Ok(None),
            IdValue::Other(kind) => Err(kind),
        }
    }
}

/// One JSON object's fields, in order, with the keys that repeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Fields in the order given (the first occurrence of a repeated key only).
    pub fields: Vec<(String, Json)>,
    /// Id columns, with their text as sent.
    pub ids: Vec<(String, IdValue)>,
    /// Keys that appeared more than once, each listed once, in order of their repetition.
    pub duplicates: Vec<String>,
}

impl Record {
    /// A record from fields assumed distinct (for callers that build records in code).
    pub fn from_fields(fields: impl IntoIterator<Item = (String, Json)>) -> Self {
        let mut record = Record::default();
        for (name, value) in fields {
            if !record.seen(&name) {
                record.fields.push((name, value));
            }
        }
        record
    }

    /// Whether `name` was given already; if so, notes it as a duplicate.
    fn seen(&mut self, name: &str) -> bool {
        let seen = self.fields.iter().any(|(existing, _)| existing == name)
            || self.ids.iter().any(|(existing, _)| existing == name);
        if seen && !self.duplicates.iter().any(|duplicate| duplicate == name) {
            self.duplicates.push(name.to_owned());
        }
        seen
    }
}

/// A request body: one record, an array of items, or anything else (by its JSON type name).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A JSON object.
    Object(Record),
    /// A JSON array.
    Array(Vec<Item>),
    /// Any other JSON value, described by its type (`a string`, `null`, ...).
    Other(&'static str),
}

/// One element of an array body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A JSON object.
    Record(Record),
    /// Any other JSON value, described by its type.
    Other(&'static str),
}

/// How a body is read: which keys are ids, and the most array elements accepted.
#[derive(Debug, Clone, Copy)]
pub struct BodyReader<'a> {
    /// Keys whose values are record ids.
    pub id_columns: &'a [String],
    /// Most elements an array body may hold; one more ends the parse with [`TOO_MANY_ITEMS`].
    pub max_items: usize,
}

impl BodyReader<'_> {
    /// Parses JSON text.
    pub fn parse(self, text: &[u8]) -> Result<Body, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let body = self.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(body)
    }
}

/// Names a non-object JSON value's type, consuming nested content without keeping it.
struct TypeName;

impl<'de> Visitor<'de> for TypeName {
    type Value = &'static str;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok("null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok("an array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok("an object")
    }
}

/// Reads an object's entries into a [`Record`].
fn read_record<'de, A: MapAccess<'de>>(
    mut map: A,
    id_columns: &[String],
) -> Result<Record, A::Error> {
    let mut record = Record::default();
    while let Some(name) = map.next_key::<String>()? {
        if record.seen(&name) {
            map.next_value::<IgnoredAny>()?;
        } else if id_columns.contains(&name) {
            let raw: Box<RawValue> = map.next_value()?;
            record.ids.push((name, IdValue::from_raw(raw.get())));
        } else {
            let value: Json = map.next_value()?;
            record.fields.push((name, value));
        }
    }
    Ok(record)
}

/// Declares the scalar visits shared by the item and body visitors: any non-object value
/// becomes its type name.
macro_rules! scalar_visits {
    ($output:ident) => {
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            TypeName.visit_bool(value).map($output::Other)
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            TypeName.visit_i64(value).map($output::Other)
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            TypeName.visit_u64(value).map($output::Other)
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            TypeName.visit_f64(value).map($output::Other)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            TypeName.visit_str(value).map($output::Other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            TypeName.visit_unit().map($output::Other)
        }
    };
}

struct ItemVisitor<'a>(&'a [String]);

impl<'de> Visitor<'de> for ItemVisitor<'_> {
    type Value = Item;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }
    scalar_visits!(Item);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        TypeName.visit_seq(seq).map(Item::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_record(map, self.0).map(Item::Record)
    }
}

struct ItemSeed<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(ItemVisitor(self.0))
    }
}

struct BodyVisitor<'a>(BodyReader<'a>);

impl<'de> Visitor<'de> for BodyVisitor<'_> {
    type Value = Body;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object or array")
    }
    scalar_visits!(Body);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(ItemSeed(self.0.id_columns))? {
            if items.len() == self.0.max_items {
                return Err(de::Error::custom(format!(
                    "{TOO_MANY_ITEMS}: at most {} per request",
                    self.0.max_items
                )));
            }
            items.push(item);
        }
        Ok(Body::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_record(map, self.0.id_columns).map(Body::Object)
    }
}

impl<'de> DeserializeSeed<'de> for BodyReader<'_> {
    type Value = Body;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Body, D::Error> {
        deserializer.deserialize_any(BodyVisitor(self))
    }
}

impl<'de> Deserialize<'de> for Body {
    /// Without a reader's settings: no id columns, no array limit.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BodyReader {
            id_columns: &[],
            max_items: usize::MAX,
        }
        .deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reader<'a>(ids: &'a [String]) -> BodyReader<'a> {
        BodyReader {
            id_columns: ids,
            max_items: 3,
        }
    }

    #[test]
    fn objects_keep_order_and_report_repeated_keys_once() {
        let body: Body =
            serde_json::from_str(r#"{"b": 1, "a": null, "b": 2, "b": 3, "a": 4}"#).unwrap();
        let Body::Object(record) = body else {
            panic!("an object")
        };
        assert_eq!(
            record.fields,
            vec![("b".to_owned(), json!(1)), ("a".to_owned(), Json::Null)]
        );
        assert_eq!(record.duplicates, ["b", "a"]);
    }

    #[test]
    fn ids_keep_their_exact_text() {
        let ids = ["ID".to_owned()];
        let parse = |text: &str| match reader(&ids).parse(text.as_bytes()).unwrap() {
            Body::Object(record) => record.ids[0].1.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parse(r#"{"ID": 123456789012345678901}"#).echo(),
            Ok(Some("123456789012345678901".into()))
        );
        assert_eq!(parse(r#"{"ID": "P\u0031"}"#).echo(), Ok(Some("P1".into())));
        assert_eq!(parse(r#"{"ID": 1e3}"#).echo(), Ok(Some("1e3".into())));
        assert_eq!(parse(r#"{"ID": null}"#).echo(), Ok(None));
        assert!(parse(r#"{"ID": 2.5}"#).echo().is_err());
        assert!(parse(r#"{"ID": [1]}"#).echo().is_err());
        let Body::Object(record) = reader(&ids).parse(br#"{"ID": "a", "ID": "b"}"#).unwrap() else {
            panic!()
        };
        assert_eq!(record.duplicates, ["ID"]);
    }

    #[test]
    fn arrays_are_refused_while_read_beyond_the_limit() {
        let ids: [String; 0] = [];
        assert!(matches!(
            reader(&ids).parse(b"[{}, {}, {}]").unwrap(),
            Body::Array(items) if items.len() == 3
        ));
        let error = reader(&ids).parse(b"[{}, {}, {}, {}, 0, 0]").unwrap_err();
        assert!(error.to_string().starts_with(TOO_MANY_ITEMS), "{error}");
    }

    #[test]
    fn arrays_hold_records_and_named_other_values() {
        let body: Body = serde_json::from_str(
            r#"[{"x": {"y": 1, "y": 2}}, [1, {"z": 1}], "s", 2.5, null, true]"#,
        )
        .unwrap();
        let Body::Array(items) = body else {
            panic!("an array")
        };
        // A repeated key inside a nested value is not the record's concern: the nested value
        // is refused as a whole.
        assert!(matches!(&items[0], Item::Record(record) if record.duplicates.is_empty()));
        let others: Vec<&str> = items[1..]
            .iter()
            .map(|item| match item {
                Item::Other(name) => *name,
                Item::Record(_) => "a record",
            })
            .collect();
        assert_eq!(
            others,
            ["an array", "a string", "a number", "null", "a boolean"]
        );
        for (text, name) in [("\"x\"", "a string"), ("null", "null"), ("7", "a number")] {
            assert_eq!(
                serde_json::from_str::<Body>(text).unwrap(),
                Body::Other(name)
            );
        }
        assert!(serde_json::from_str::<Body>("{\"a\": }").is_err());
    }
}
