//! A tiny XML element tree and its writer, made for policy documents.
//!
//! Policy expressions are C# inside attributes and text, full of `"`, `<` and `&&`. The
//! writer escapes `&`, `<` and `>` everywhere and delimits an attribute with `'` when its
//! value holds a `"` (or is a `{{named value}}`, whose substituted text may hold one), so
//! the C# stays readable and the document stays well-formed. Multi-line values are
//! re-indented under their element; output is a pure function of the tree.

use std::fmt::Write;

const INDENT: &str = "    ";

/// One element: its attributes in the order given, then either text or children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Children(Vec<Node>),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Element(Element),
    Comment(String),
}

impl Element {
    pub fn new(name: &'static str) -> Self {
        Element { name, attrs: Vec::new(), content: Content::Children(Vec::new()) }
    }

    pub fn attr(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((key, value.into()));
        self
    }

    /// Replaces any children with text content.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.content = Content::Text(text.into());
        self
    }

    pub fn child(self, child: Element) -> Self {
        self.push(Node::Element(child))
    }

    pub fn children(self, children: impl IntoIterator<Item = Element>) -> Self {
        children.into_iter().fold(self, Element::child)
    }

    /// A comment for people reading the deployed policy; `--` is not allowed inside.
    pub fn comment(self, text: &str) -> Self {
        self.push(Node::Comment(text.replace("--", "- -")))
    }

    fn push(mut self, node: Node) -> Self {
        match &mut self.content {
            Content::Children(children) => children.push(node),
            Content::Text(_) => self.content = Content::Children(vec![node]),
        }
        self
    }

    /// The document, with a trailing newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let indent = INDENT.repeat(depth);
        let _ = write!(out, "{indent}<{}", self.name);
        for (key, value) in &self.attrs {
            let quote = if value.contains('"') || value.contains("{{") { '\'' } else { '"' };
            let escaped = escape_attr(value, quote);
            let _ = write!(out, " {key}={quote}{}{quote}", reindent(&escaped, &indent));
        }
        match &self.content {
            Content::Children(children) if children.is_empty() => out.push_str(" />\n"),
            Content::Children(children) => {
                out.push_str(">\n");
                for child in children {
                    match child {
                        Node::Element(element) => element.write(out, depth + 1),
                        Node::Comment(text) => {
                            let _ = writeln!(out, "{indent}{INDENT}<!-- {text} -->");
                        }
                    }
                }
                let _ = writeln!(out, "{indent}</{}>", self.name);
            }
            Content::Text(text) => {
                let escaped = quick_xml::escape::partial_escape(text);
                let _ = writeln!(out, ">{}</{}>", reindent(&escaped, &indent), self.name);
            }
        }
    }
}

/// `&`, `<`, `>` and the delimiting quote; nothing else needs escaping.
fn escape_attr(value: &str, quote: char) -> String {
    let escaped = quick_xml::escape::partial_escape(value);
    match quote {
        '\'' => escaped.replace('\'', "&apos;"),
        _ => escaped.replace('"', "&quot;"),
    }
}

/// Lines after the first are placed under the element's own indentation.
fn reindent(value: &str, indent: &str) -> String {
    let mut lines = value.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(indent);
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_chooses_quotes() {
        let doc = Element::new("a")
            .attr("plain", "x & y")
            .attr("expr", r#"@(context.Variables["n"] < 2 && true)"#)
            .attr("both", r#"say "it's""#)
            .attr("nv", "{{oai-lb-backends}}")
            .child(Element::new("value").text("@(1 < 2)"))
            .comment("a -- b")
            .render();
        assert_eq!(
            doc,
            "<a plain=\"x &amp; y\" expr='@(context.Variables[\"n\"] &lt; 2 &amp;&amp; true)' \
             both='say \"it&apos;s\"' nv='{{oai-lb-backends}}'>\n    <value>@(1 &lt; 2)</value>\n    <!-- a - - b -->\n</a>\n"
        );
    }

    #[test]
    fn multi_line_values_are_indented_under_their_element() {
        let doc = Element::new("p").child(Element::new("v").attr("value", "@{\n    return 1;\n}")).render();
        assert_eq!(doc, "<p>\n    <v value=\"@{\n        return 1;\n    }\" />\n</p>\n");
    }
}
