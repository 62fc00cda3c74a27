//! YAML text → spanned node tree → `serde_json::Value` plus a field-path → line table.
//!
//! Receives: the text of one file. Hands on: one [`Document`] per YAML document (its JSON value,
//! line table and any structural problems), and the syntax error that ended the stream, if any.
//! Uses yaml-rust2's event parser so every key and item keeps its line.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use crate::path;

/// Deepest nesting accepted; deeper documents are rejected (protects the recursive walk).
const MAX_DEPTH: usize = 100;
/// Most nodes one document may expand to (aliases included): stops "billion laughs".
const MAX_NODES: usize = 1_000_000;

/// A parsed node with the line it starts on.
#[derive(Clone, Debug)]
struct Node {
    line: u32,
    kind: NodeKind,
}

#[derive(Clone, Debug)]
enum NodeKind {
    Scalar {
        text: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    /// Entries: key text, key line, value.
    Map(Vec<(String, u32, Node)>),
    Alias(Rc<Node>),
}

/// One YAML document converted to JSON.
#[derive(Debug)]
pub struct Document {
    /// Line where the document's content starts.
    pub line: u32,
    /// The document as JSON (`Null` for an empty document).
    pub value: Value,
    /// Field path → line of the key (or item) that introduces it.
    pub lines: HashMap<String, u32>,
    /// Structural problems: (line, path, message). A document with problems is rejected.
    pub problems: Vec<(u32, String, String)>,
}

/// What one file parsed into.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Documents completed before the end of the stream (or before a syntax error).
    pub documents: Vec<Document>,
    /// The syntax error that stopped parsing: (line, message).
    pub syntax_error: Option<(u32, String)>,
}

enum Frame {
    Seq {
        line: u32,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        line: u32,
        anchor: usize,
        entries: Vec<(String, u32, Node)>,
        key: Option<(String, u32)>,
    },
}

/// Builds the node tree of the current document from parser events.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Rc<Node>>,
    root: Option<Node>,
    start: u32,
    /// >0 while skipping the inside of a too-deep collection.
    skip: usize,
    problems: Vec<(u32, String, String)>,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Builder {
    fn open(&mut self, frame: Frame, line: u32) -> bool {
        if self.skip > 0 || self.stack.len() >= MAX_DEPTH {
            if self.skip == 0 {
                self.problems.push((
                    line,
                    String::new(),
                    format!("document is nested more than {MAX_DEPTH} levels deep"),
                ));
            }
            self.skip += 1;
            return false;
        }
        self.stack.push(frame);
        true
    }

    fn close(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let node = match self.stack.pop() {
            Some(Frame::Seq {
                line,
                anchor,
                items,
            }) => self.anchored(
                anchor,
                Node {
                    line,
                    kind: NodeKind::Seq(items),
                },
            ),
            Some(Frame::Map {
                line,
                anchor,
                entries,
                key,
            }) => {
                if let Some((k, l)) = key {
                    // A key without value cannot happen with a well-formed event stream; keep it as null.
                    let mut entries = entries;
                    entries.push((k, l, null_node(l)));
                    self.anchored(
                        anchor,
                        Node {
                            line,
                            kind: NodeKind::Map(entries),
                        },
                    )
                } else {
                    self.anchored(
                        anchor,
                        Node {
                            line,
                            kind: NodeKind::Map(entries),
                        },
                    )
                }
            }
            None => return,
        };
        self.push(node);
    }

    fn anchored(&mut self, anchor: usize, node: Node) -> Node {
        if anchor > 0 {
            self.anchors.insert(anchor, Rc::new(node.clone()));
        }
        node
    }

    fn push(&mut self, node: Node) {
        if self.skip > 0 {
            return;
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some((k, l)) => entries.push((k, l, node)),
                None => {
                    let line = node.line;
                    match scalar_text(&node) {
                        Some(text) => *key = Some((text, line)),
                        None => {
                            self.problems.push((
                                line,
                                String::new(),
                                "mapping keys must be scalars".to_string(),
                            ));
                            *key = Some((format!("<complex key at line {line}>"), line));
                        }
                    }
                }
            },
        }
    }
}

fn null_node(line: u32) -> Node {
    Node {
        line,
        kind: NodeKind::Scalar {
            text: String::new(),
            plain: true,
            tag: None,
        },
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar { text, .. } => Some(text.clone()),
        NodeKind::Alias(target) => scalar_text(target),
        _ => None,
    }
}

fn tag_name(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle, t.suffix))
}

/// Parses every document of `text`.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder::default();
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                out.syntax_error = Some((to_u32(e.marker().line()), e.info().to_string()));
                break;
            }
        };
        let line = to_u32(mark.line());
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                b = Builder {
                    start: line,
                    ..Builder::default()
                };
            }
            Event::DocumentEnd => {
                let builder = std::mem::take(&mut b);
                out.documents.push(finish(builder));
            }
            Event::Alias(id) => {
                let node = match b.anchors.get(&id) {
                    Some(target) => Node {
                        line,
                        kind: NodeKind::Alias(target.clone()),
                    },
                    None => {
                        b.problems
                            .push((line, String::new(), "unknown alias".to_string()));
                        null_node(line)
                    }
                };
                b.push(node);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    line,
                    kind: NodeKind::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                        tag: tag_name(tag),
                    },
                };
                let node = b.anchored(anchor, node);
                b.push(node);
            }
            Event::SequenceStart(anchor, _) => {
                b.open(
                    Frame::Seq {
                        line,
                        anchor,
                        items: Vec::new(),
                    },
                    line,
                );
            }
            Event::MappingStart(anchor, _) => {
                b.open(
                    Frame::Map {
                        line,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    },
                    line,
                );
            }
            Event::SequenceEnd | Event::MappingEnd => b.close(),
        }
    }
    out
}

fn finish(b: Builder) -> Document {
    let mut doc = Document {
        line: b.start.max(1),
        value: Value::Null,
        lines: HashMap::new(),
        problems: b.problems,
    };
    if let Some(root) = b.root {
        doc.line = root.line.max(1);
        let mut conv = Converter {
            lines: &mut doc.lines,
            problems: &mut doc.problems,
            budget: MAX_NODES,
        };
        doc.value = conv.value(&root, "");
    }
    doc
}

struct Converter<'a> {
    lines: &'a mut HashMap<String, u32>,
    problems: &'a mut Vec<(u32, String, String)>,
    budget: usize,
}

impl Converter<'_> {
    fn value(&mut self, node: &Node, at: &str) -> Value {
        if self.budget == 0 {
            return Value::Null;
        }
        self.budget -= 1;
        if self.budget == 0 {
            self.problems.push((
                node.line,
                at.to_string(),
                format!("document expands to more than {MAX_NODES} nodes"),
            ));
            return Value::Null;
        }
        match &node.kind {
            NodeKind::Alias(target) => self.value(target, at),
            NodeKind::Scalar { text, plain, tag } => {
                scalar(text, *plain, tag.as_deref(), node.line, at, self.problems)
            }
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let p = path::index(at, i);
                    self.lines.entry(p.clone()).or_insert(item.line);
                    out.push(self.value(item, &p));
                }
                Value::Array(out)
            }
            NodeKind::Map(entries) => {
                let mut out = Map::new();
                let mut seen = HashSet::new();
                for (key, key_line, value) in entries {
                    let p = path::key(at, key);
                    if !seen.insert(key.as_str()) {
                        self.problems
                            .push((*key_line, p, format!("duplicate key `{key}`")));
                        continue;
                    }
                    self.lines.entry(p.clone()).or_insert(*key_line);
                    let v = self.value(value, &p);
                    out.insert(key.clone(), v);
                }
                Value::Object(out)
            }
        }
    }
}

/// Types a scalar by the YAML 1.2 core schema (plain scalars only; quoted ones are strings).
fn scalar(
    text: &str,
    plain: bool,
    tag: Option<&str>,
    line: u32,
    at: &str,
    problems: &mut Vec<(u32, String, String)>,
) -> Value {
    match tag {
        Some("!!str") | Some("tag:yaml.org,2002:str") => return Value::String(text.to_string()),
        _ if !plain => return Value::String(text.to_string()),
        _ => {}
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = int(text) {
        return n;
    }
    if is_float(text) {
        let lower = text.to_ascii_lowercase();
        let f = match lower.trim_start_matches(['+', '-']) {
            ".inf" => f64::INFINITY,
            ".nan" => f64::NAN,
            _ => lower.parse::<f64>().unwrap_or(f64::NAN),
        };
        return match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                problems.push((
                    line,
                    at.to_string(),
                    format!("`{text}` is not a finite number"),
                ));
                Value::Null
            }
        };
    }
    Value::String(text.to_string())
}

fn int(text: &str) -> Option<Value> {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(h) = text.strip_prefix("0x") {
        return digits(h, 16)
            .then(|| u64::from_str_radix(h, 16).ok().map(Value::from))
            .flatten();
    }
    if let Some(o) = text.strip_prefix("0o") {
        return digits(o, 8)
            .then(|| u64::from_str_radix(o, 8).ok().map(Value::from))
            .flatten();
    }
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits(body, 10) {
        return None;
    }
    if text.starts_with('-') {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::from(i));
        }
    } else if let Ok(u) = body.parse::<u64>() {
        return Some(Value::from(u));
    }
    // Too large for 64 bits: keep it as a float like other YAML loaders do.
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // [0-9]* ( \. [0-9]* )? ( [eE] [-+]? [0-9]+ )?  with at least one digit in the mantissa
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if int_part.is_empty() && frac.is_empty() {
        return false;
    }
    if !all_digits(int_part) || !all_digits(frac) {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    }
}
