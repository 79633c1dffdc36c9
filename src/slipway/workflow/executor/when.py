"""Argo's ``when``, evaluated after substitution as Argo does, for the operators slipway
uses: ``==``, ``!=``, ``&&``, ``||``, parentheses, quoted strings and bare words.

Bare words are strings (as Argo treats them); two numbers compare as numbers; a lone
``true`` or ``false`` is a condition. Anything else raises WorkflowError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from slipway.errors import WorkflowError

_TOKEN = re.compile(r"""\s*(?:(&&|\|\||==|!=|\(|\))|"([^"]*)"|'([^']*)'|([\w.:/@+-]+))""")

Token = tuple[str, str]  # (kind, text): kind "op" or "value"


def evaluate_when(expression: str) -> bool:
    """The truth of a substituted ``when`` expression; WorkflowError if it is not one."""
    parser = _Parser(_tokens(expression), expression)
    result = parser.disjunction()
    if parser.index != len(parser.tokens):
        raise WorkflowError(f"when {expression!r}: unexpected {parser.tokens[parser.index][1]!r}")
    return result


def _tokens(expression: str) -> list[Token]:
    tokens: list[Token] = []
    position, text = 0, expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise WorkflowError(f"when {expression!r}: unsupported syntax at {text[position:]!r}")
        op, double, single, word = match.groups()
        tokens.append(
            ("op", op)
            if op
            else ("value", next(v for v in (double, single, word) if v is not None))
        )
        position = match.end()
    return tokens


@dataclass
class _Parser:
    """Recursive descent: disjunction := conjunction (|| conjunction)*, conjunction :=
    comparison (&& comparison)*, comparison := ( disjunction ) | value [(==|!=) value]."""

    tokens: list[Token]
    expression: str
    index: int = 0

    def _peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> Token:
        token = self._peek()
        if token is None:
            raise WorkflowError(f"when {self.expression!r}: ends too early")
        self.index += 1
        return token

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self._peek() == ("op", "||"):
            self._take()
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.comparison()
        while self._peek() == ("op", "&&"):
            self._take()
            value = self.comparison() and value
        return value

    def comparison(self) -> bool:
        if self._peek() == ("op", "("):
            self._take()
            value = self.disjunction()
            if self._take() != ("op", ")"):
                raise WorkflowError(f"when {self.expression!r}: missing ')'")
            return value
        left = self._operand()
        token = self._peek()
        if token is None or token[1] not in ("==", "!="):
            if left in ("true", "false"):
                return left == "true"
            raise WorkflowError(f"when {self.expression!r}: {left!r} is not a condition")
        self._take()
        equal = _same(left, self._operand())
        return equal if token[1] == "==" else not equal

    def _operand(self) -> str:
        kind, text = self._take()
        if kind != "value":
            raise WorkflowError(f"when {self.expression!r}: expected a value, got {text!r}")
        return text


def _same(left: str, right: str) -> bool:
    try:
        return float(left) == float(right)
    except ValueError:
        return left == right
