"""Evaluate the small part of HCL's expression language that python-hcl2 leaves as text ("${...}").

hcl_dump.py turns literal blocks into JSON but keeps every expression as its source text: a reference
("${each.value.sagemaker}"), a template ("arn:${local.partition}:s3:::${var.project}-${env}*") or a whole for
expression (the bootstrap's `local.scopes`). To render the bootstrap's IAM documents as IAM will see them (their size
against IAM's limit, the actions and resources a role really gets) the rules need those values, with example inputs.

Supported, and nothing else (anything more raises UnsupportedExpression, so a check never passes by not looking):
string templates with nested interpolations, numbers, true/false/null, tuples, objects, traversals (`a.b[c].d`),
`[for x in xs : expr]` and `{for k, v in m : key => value}`, the calls flatten(), merge() and concat() with `...`
expansion of the last argument. No operators, conditionals or other functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


class UnsupportedExpression(ValueError):
    """The text uses HCL beyond what this evaluator understands."""


TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>")
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<ellipsis>\.\.\.)
      | (?P<arrow>=>)
      | (?P<punct>[\[\]{}(),:=.])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


class Lazy:
    """A value computed on first use and kept (a `local`, which may refer to other locals)."""

    def __init__(self, compute: Callable[[], object]):
        self._compute = compute
        self._value: object = None
        self._done = False

    def get(self) -> object:
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value


class Parser:
    """Recursive descent over one expression's text; produces a small AST of tuples."""

    def __init__(self, text: str):
        self.text = text
        self.position = 0

    def fail(self, what: str):
        raise UnsupportedExpression(f"{what} at {self.position} in {self.text!r}")

    def peek(self) -> tuple[str, str] | None:
        match = TOKEN.match(self.text, self.position)
        if not match:
            return None if not self.text[self.position :].strip() else ("?", self.text[self.position])
        kind = match.lastgroup
        return kind, match.group(kind)

    def take(self, expected: str | None = None) -> tuple[str, str]:
        match = TOKEN.match(self.text, self.position)
        if not match:
            self.fail("unexpected end or character")
        kind = match.lastgroup
        value = match.group(kind)
        if expected is not None and value != expected:
            self.fail(f"expected {expected!r}, found {value!r}")
        self.position = match.end()
        return kind, value

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value

    def expression(self):
        kind, value = self.peek() or self.fail("empty expression")
        if kind == "string":
            self.take()
            node = self.template(closing='"')
        elif kind == "number":
            self.take()
            node = ("literal", float(value) if "." in value else int(value))
        elif value == "[":
            node = self.tuple_()
        elif value == "{":
            node = self.object_()
        elif value == "(":
            self.take("(")
            node = self.expression()
            self.take(")")
        elif kind == "name":
            self.take()
            if value in ("true", "false", "null"):
                node = ("literal", {"true": True, "false": False, "null": None}[value])
            elif self.at("("):
                node = self.call(value)
            else:
                node = ("ref", value)
        else:
            self.fail(f"unsupported token {value!r}")
        return self.traversal(node)

    def traversal(self, node):
        while True:
            if self.at(".") and not self.text.startswith("...", self.position + self._space()):
                self.take(".")
                _, name = self.take()
                node = ("attr", node, name)
            elif self.at("["):
                self.take("[")
                index = self.expression()
                self.take("]")
                node = ("index", node, index)
            else:
                return node

    def _space(self) -> int:
        return len(self.text[self.position :]) - len(self.text[self.position :].lstrip())

    def call(self, name: str):
        self.take("(")
        arguments, expand = [], False
        while not self.at(")"):
            arguments.append(self.expression())
            if self.at("..."):
                self.take("...")
                expand = True
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return ("call", name, arguments, expand)

    def tuple_(self):
        self.take("[")
        if self.at("for"):
            self.take("for")
            names = self.loop_names()
            collection = self.expression()
            self.take(":")
            body = self.expression()
            if self.at("if"):
                self.fail("for expressions with if are not supported")
            self.take("]")
            return ("for_tuple", names, collection, body)
        items = []
        while not self.at("]"):
            items.append(self.expression())
            if not self.at("]"):
                self.take(",")
        self.take("]")
        return ("tuple", items)

    def object_(self):
        self.take("{")
        if self.at("for"):
            self.take("for")
            names = self.loop_names()
            collection = self.expression()
            self.take(":")
            key = self.expression()
            self.take("=>")
            value = self.expression()
            if self.at("...") or self.at("if"):
                self.fail("grouping or filtering for expressions are not supported")
            self.take("}")
            return ("for_object", names, collection, key, value)
        items = []
        while not self.at("}"):
            kind, token = self.peek() or self.fail("unterminated object")
            if kind == "name" and not self.text[self.position :].lstrip().startswith(token + "("):
                self.take()
                key = ("literal", token)
            else:
                key = self.expression()
            if not (self.at("=") or self.at(":")):
                self.fail("expected = in object")
            self.take()
            items.append((key, self.expression()))
            if self.at(","):
                self.take(",")
        self.take("}")
        return ("object", items)

    def loop_names(self) -> tuple[str, ...]:
        _, first = self.take()
        names = [first]
        if self.at(","):
            self.take(",")
            names.append(self.take()[1])
        self.take("in")
        return tuple(names)

    def template(self, closing: str | None):
        """A quoted string (closing '"') or a bare template (closing None) as ("template", parts)."""
        parts, literal = [], []
        while True:
            if self.position >= len(self.text):
                if closing is None:
                    break
                self.fail("unterminated string")
            char = self.text[self.position]
            if closing is not None and char == closing:
                self.position += 1
                break
            if self.text.startswith("$${", self.position):
                literal.append("${")
                self.position += 3
            elif self.text.startswith("${", self.position):
                if literal:
                    parts.append("".join(literal))
                    literal = []
                self.position += 2
                parts.append(self.expression())
                self.take("}")
            elif char == "\\" and closing is not None:
                escaped = self.text[self.position + 1]
                literal.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(escaped, escaped))
                self.position += 2
            else:
                literal.append(char)
                self.position += 1
        if literal:
            parts.append("".join(literal))
        return ("template", parts)


def parse_value_text(text: str):
    """The AST of a dumped string: a whole "${expr}" is that expression (any type), anything else a template."""
    parser = Parser(text)
    node = parser.template(closing=None)
    if len(node[1]) == 1 and not isinstance(node[1][0], str) and text.startswith("${") and text.endswith("}"):
        return node[1][0]
    return node


def resolve(value):
    return value.get() if isinstance(value, Lazy) else value


def evaluate(node, scope: Mapping[str, object]):
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "template":
        values = [part if isinstance(part, str) else evaluate(part, scope) for part in node[1]]
        if any(not isinstance(value, (str, int, float)) or isinstance(value, bool) for value in values):
            raise UnsupportedExpression(f"a non-string value interpolated into a string: {values!r}")
        return "".join(str(value) for value in values)
    if kind == "ref":
        if node[1] not in scope:
            raise UnsupportedExpression(f"unknown name {node[1]!r}")
        return resolve(scope[node[1]])
    if kind == "attr":
        target = evaluate(node[1], scope)
        if not isinstance(target, Mapping) or node[2] not in target:
            raise UnsupportedExpression(f"no attribute {node[2]!r} in {type(target).__name__}")
        return resolve(target[node[2]])
    if kind == "index":
        target, index = evaluate(node[1], scope), evaluate(node[2], scope)
        try:
            return resolve(target[index])
        except (KeyError, IndexError, TypeError) as error:
            raise UnsupportedExpression(f"cannot index with {index!r}") from error
    if kind == "tuple":
        return [evaluate(item, scope) for item in node[1]]
    if kind == "object":
        return {evaluate(key, scope): evaluate(value, scope) for key, value in node[1]}
    if kind in ("for_tuple", "for_object"):
        names, collection = node[1], evaluate(node[2], scope)
        pairs = collection.items() if isinstance(collection, Mapping) else enumerate(collection)
        results = []
        for key, value in pairs:
            inner = dict(scope)
            if len(names) == 2:
                inner[names[0]], inner[names[1]] = key, value
            else:
                inner[names[0]] = value
            if kind == "for_tuple":
                results.append(evaluate(node[3], inner))
            else:
                results.append((evaluate(node[3], inner), evaluate(node[4], inner)))
        return results if kind == "for_tuple" else dict(results)
    if kind == "call":
        return call(node[1], [evaluate(argument, scope) for argument in node[2]], node[3])
    raise UnsupportedExpression(f"unknown node {kind!r}")


def call(name: str, arguments: list, expand: bool):
    if expand:
        arguments = [*arguments[:-1], *arguments[-1]]
    if name == "flatten":
        (items,) = arguments
        flat = []
        for item in items:
            flat.extend(call("flatten", [item], False) if isinstance(item, list) else [item])
        return flat
    if name == "concat":
        return [item for argument in arguments for item in argument]
    if name == "merge":
        merged = {}
        for argument in arguments:
            merged.update(argument)
        return merged
    raise UnsupportedExpression(f"function {name}() is not supported")


def evaluate_value(value, scope: Mapping[str, object]):
    """A dumped value (strings holding expression text, lists, dicts) evaluated in `scope`."""
    if isinstance(value, str):
        return evaluate(parse_value_text(value), scope)
    if isinstance(value, list):
        return [evaluate_value(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: evaluate_value(item, scope) for key, item in value.items()}
    return value
