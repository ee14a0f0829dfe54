#!/usr/bin/env python3
"""Fails when modules of src/ depend on each other in a cycle (issue 20: imports point one way,
listener -> connection -> pipeline -> policy/backend -> config/http).

A module is a file (`backend/web_proxy/relay.rs` is `backend::web_proxy::relay`). It depends on another when
its code outside `#[cfg(test)]` names it: `use crate::x::y`, `crate::x::y::f(...)`, `super::y`.
A module and its own ancestors are not a cycle (a child names its parent's types, the parent
declares the child). Prints every cycle found, as the files and one reference each way.

    scripts/check-import-cycles.py          # exit 1 and the cycles, or 0 and a count of edges
    scripts/check-import-cycles.py --known a,b,c   # that exact cycle is known: reported, not failed
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    relative = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if relative[-1] in ("mod", "lib", "main"):
        relative = relative[:-1]
    return tuple(relative)


def strip_tests(text):
    """Drops `#[cfg(test)]` items (a `mod tests { ... }` or one fn), comments and strings."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    out, index = [], 0
    for match in re.finditer(r"#\[cfg\(test\)\]", text):
        if match.start() < index:
            continue
        out.append(text[index:match.start()])
        brace = text.find("{", match.end())
        semicolon = text.find(";", match.end())
        if semicolon != -1 and (brace == -1 or semicolon < brace):
            index = semicolon + 1
            continue
        depth, position = 0, brace
        while position < len(text):
            if text[position] == "{":
                depth += 1
            elif text[position] == "}":
                depth -= 1
                if depth == 0:
                    break
            position += 1
        index = position + 1
    out.append(text[index:])
    return "".join(out)


def main():
    known = set()
    if len(sys.argv) == 3 and sys.argv[1] == "--known":
        known = {frozenset(sys.argv[2].split(","))}
    files = {}
    for directory, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".rs") and name != "main.rs" and not directory.startswith(os.path.join(ROOT, "bin")):
                path = os.path.join(directory, name)
                files[module_of(path)] = path
    modules = set(files)

    def resolve(path):
        """The longest known module that `path` (a tuple of segments) starts with."""
        for length in range(len(path), 0, -1):
            if path[:length] in modules:
                return path[:length]
        return None

    edges = {}
    for module, path in files.items():
        text = strip_tests(open(path, encoding="utf-8").read())
        targets = {}
        # `use crate::a::{b, c::d}` and inline `crate::a::b` paths.
        for match in re.finditer(r"\bcrate((?:::\w+)+)(::\{([^;]*?)\})?", text):
            base = tuple(match.group(1).strip(":").split("::"))
            group = match.group(3)
            paths = [base]
            if group:
                for item in re.split(r",(?![^{]*\})", group):
                    item = item.strip()
                    if item and item != "self":
                        paths.append(base + tuple(item.split("{")[0].strip(":").split("::")))
            for candidate in paths:
                found = resolve(candidate)
                if found:
                    targets.setdefault(found, match.group(0)[:80])
        # `super::x` from a file: relative to its parent module.
        for match in re.finditer(r"\bsuper((?:::\w+)+)", text):
            parent = module[:-1] if not path.endswith("mod.rs") else module[:-1]
            found = resolve(parent + tuple(match.group(1).strip(":").split("::")))
            if found:
                targets.setdefault(found, match.group(0)[:80])
        for target, example in targets.items():
            related = target[: len(module)] == module or module[: len(target)] == target
            if target != module and not related:
                edges.setdefault(module, {})[target] = example

    # Tarjan's strongly connected components.
    index_of, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index_of[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index_of:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index_of[target])
        if low[node] == index_of[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    sys.setrecursionlimit(10000)
    for node in sorted(modules):
        if node not in index_of:
            visit(node)
    name = lambda module: "::".join(module) or "crate"
    unknown = [component for component in components if frozenset(map(name, component)) not in known]
    for component in components:
        if component not in unknown:
            print("known cycle (not failed): " + ", ".join(sorted(name(member) for member in component)))
    if not unknown:
        print(f"no new import cycle among {len(modules)} modules ({sum(len(t) for t in edges.values())} edges)")
        return 0
    for component in unknown:
        members = set(component)
        print("cycle: " + ", ".join(sorted(name(member) for member in component)))
        for member in sorted(component):
            for target, example in sorted(edges.get(member, {}).items()):
                if target in members:
                    print(f"  {name(member)} -> {name(target)}   ({example})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
