//! Request bodies parsed strictly, straight from the JSON text.
//!
//! A record keeps its fields in the order given and remembers every key that appears more than
//! once: JSON parsers usually keep the last duplicate silently, which would let a client's
//! `{"PL": 148, "PL": 0}` be scored on a value it may not have meant. Duplicates become
//! validation errors naming the key, as strict JSON validators report them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

/// One JSON object's fields, in order, with the keys that repeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Fields in the order given (the first occurrence of a repeated key only).
    pub fields: Vec<(String, Json)>,
    /// Keys that appeared more than once, each listed once, in order of their repetition.
    pub duplicates: Vec<String>,
}

impl Record {
    /// A record from fields assumed distinct (for callers that build records in code).
    pub fn from_fields(fields: impl IntoIterator<Item = (String, Json)>) -> Self {
        let mut record = Record::default();
        for (name, value) in fields {
            record.insert(name, value);
        }
        record
    }

    fn insert(&mut self, name: String, value: Json) {
        if self.fields.iter().any(|(existing, _)| *existing == name) {
            if !self.duplicates.contains(&name) {
                self.duplicates.push(name);
            }
        } else {
            self.fields.push((name, value));
        }
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
fn read_record<'de, A: MapAccess<'de>>(mut map: A) -> Result<Record, A::Error> {
    let mut record = Record::default();
    while let Some((name, value)) = map.next_entry::<String, Json>()? {
        record.insert(name, value);
    }
    Ok(record)
}

/// Declares a visitor that turns objects into records and other values into type names; the
/// body visitor also reads arrays of items.
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

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }
    scalar_visits!(Item);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        TypeName.visit_seq(seq).map(Item::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_record(map).map(Item::Record)
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object or array")
    }
    scalar_visits!(Body);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item);
        }
        Ok(Body::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_record(map).map(Body::Object)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
