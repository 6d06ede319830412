#!/usr/bin/env python3
"""Rewrites a CUDA source file so that g++ can compile it against kiln's CUDA emulation.

    rewrite_cuda_source.py INPUT.cu OUTPUT.cpp

Two constructs change; everything else is copied byte for byte:

  kernel<<<grid, block[, shared[, stream]]>>>(args...)
      becomes a call of kiln::emu::launch (cuda/emulation/kernel_api.h) with a generic lambda
      that calls `kernel`, so template arguments are deduced exactly as nvcc deduces them;
  __shared__ T name[N]...;
      becomes a `static thread_local` variable and a kiln::emu::declare_shared call, which
      poisons it at the start of each block (Note [Shared memory] in scheduler.cpp).

Line breaks are kept where they were and the output starts with a #line directive, so compiler
messages, __FILE__ and __LINE__ name the original .cu file and line. A construct the rewriter
does not understand (a dynamic `extern __shared__` array, an unbalanced launch) stops the build
with the file and line, rather than compiling into something subtly different. Headers (.cuh)
must not launch kernels or declare shared memory; the rewriter refuses them.
"""
import os
import re
import sys


class RewriteError(Exception):
    pass


def code_mask(text):
    """For each character, True when it is code (not a comment, string or character literal)."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                mask[k] = False
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                mask[k] = False
            i = j
        elif c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            for k in range(i, min(j + 1, n)):
                mask[k] = False
            i = j + 1
        else:
            i += 1
    return mask


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def matching(text, mask, pos, opening, closing):
    """Index just past the bracket that closes text[pos] (== opening), counting () [] {} <>
    only for the given pair and nesting of round brackets."""
    depth = 0
    i = pos
    while i < len(text):
        if mask[i]:
            if text[i] == opening:
                depth += 1
            elif text[i] == closing:
                depth -= 1
                if depth == 0:
                    return i + 1
        i += 1
    raise RewriteError("unbalanced '%s' starting at line %d" % (opening, line_of(text, pos)))


def split_top_level(text):
    """Splits launch-configuration text at commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def kernel_start(text, mask, end):
    """Start of the kernel expression that ends just before `end` (the `<<<`): an identifier,
    possibly qualified (a::b) and with template arguments (name<T, U>)."""
    i = end
    while i > 0 and text[i - 1].isspace():
        i -= 1
    if i > 0 and text[i - 1] == ">":  # template arguments: walk back to the matching '<'
        depth = 0
        j = i - 1
        while j >= 0:
            if mask[j]:
                if text[j] == ">":
                    depth += 1
                elif text[j] == "<":
                    depth -= 1
                    if depth == 0:
                        break
            j -= 1
        if j < 0:
            raise RewriteError("no '<' for the template arguments of the kernel at line %d"
                               % line_of(text, end))
        i = j
        while i > 0 and text[i - 1].isspace():
            i -= 1
    ident = re.compile(r"[A-Za-z0-9_:]")
    j = i
    while j > 0 and ident.match(text[j - 1]):
        j -= 1
    if j == i:
        raise RewriteError("no kernel name before '<<<' at line %d" % line_of(text, end))
    return j


def rewrite_launches(text):
    mask = code_mask(text)
    out, cursor = [], 0
    for match in re.finditer(r"<<<", text):
        start = match.start()
        if not mask[start] or start < cursor:
            continue
        name_start = kernel_start(text, mask, start)
        kernel = text[name_start:start].strip()
        close = text.find(">>>", match.end())
        if close < 0:
            raise RewriteError("no '>>>' for the launch at line %d" % line_of(text, start))
        config = split_top_level(text[match.end():close])
        if not 2 <= len(config) <= 4:
            raise RewriteError("a launch configuration has 2 to 4 parts, found %d at line %d"
                               % (len(config), line_of(text, start)))
        config += ["0", "nullptr"][len(config) - 2:]
        paren = close + 3
        while paren < len(text) and text[paren].isspace():
            paren += 1
        if paren >= len(text) or text[paren] != "(":
            raise RewriteError("no argument list after '>>>' at line %d" % line_of(text, start))
        args_end = matching(text, mask, paren, "(", ")")
        args = text[paren + 1:args_end - 1]
        name = re.sub(r"\s+", " ", kernel)
        call = ("::kiln::emu::launch(::kiln::emu::LaunchSite{\"%s\", __FILE__, __LINE__}, "
                "[](auto&... kiln_emu_args) { %s(kiln_emu_args...); }, " % (name, kernel))
        call += ", ".join(config)
        if args.strip():
            call += "," + args
        call += ")"
        # Keep every line break of the original launch, so later lines keep their numbers.
        removed = text[name_start:args_end]
        call += "\n" * (removed.count("\n") - call.count("\n"))
        out.append(text[cursor:name_start])
        out.append(call)
        cursor = args_end
    out.append(text[cursor:])
    return "".join(out)


SHARED = re.compile(
    r"__shared__\s+(?P<type>[A-Za-z_][\w:<>, \t]*?)\s+(?P<name>[A-Za-z_]\w*)\s*"
    r"(?P<dims>(?:\[[^\];]*\]\s*)*);")


def rewrite_shared(text):
    mask = code_mask(text)
    out, cursor = [], 0
    for match in re.finditer(r"__shared__", text):
        start = match.start()
        if not mask[start] or start < cursor:
            continue
        before = text[max(0, start - 20):start]
        if re.search(r"extern\s*$", before):
            raise RewriteError("dynamic shared memory (extern __shared__) at line %d is not "
                               "emulated" % line_of(text, start))
        decl = SHARED.match(text, start)
        if decl is None:
            raise RewriteError("a __shared__ declaration the emulation does not understand at "
                               "line %d (write it as `__shared__ T name[N]...;`)"
                               % line_of(text, start))
        type_, name, dims = decl.group("type"), decl.group("name"), decl.group("dims").strip()
        replacement = ("static thread_local %s %s%s; ::kiln::emu::declare_shared(&%s, "
                       "sizeof(%s), \"%s\", __FILE__, __LINE__);"
                       % (type_, name, dims, name, name, name))
        replacement += "\n" * decl.group(0).count("\n")
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = decl.end()
    out.append(text[cursor:])
    return "".join(out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    source, target = argv[1], argv[2]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    try:
        if source.endswith(".cuh"):
            mask = code_mask(text)
            for token in ("<<<", "__shared__"):
                for m in re.finditer(re.escape(token), text):
                    if mask[m.start()]:
                        raise RewriteError("'%s' in a header (line %d): put launches and shared "
                                           "memory in a .cu file" % (token, line_of(text, m.start())))
            rewritten = text
        else:
            rewritten = rewrite_shared(rewrite_launches(text))
    except RewriteError as e:
        sys.stderr.write("%s: error: %s\n" % (source, e))
        return 1
    output = '#line 1 "%s"\n%s' % (os.path.abspath(source), rewritten)
    if os.path.exists(target):
        with open(target, encoding="utf-8") as f:
            if f.read() == output:
                return 0  # unchanged: keep the timestamp, so nothing rebuilds
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target + ".tmp", "w", encoding="utf-8") as f:
        f.write(output)
    os.replace(target + ".tmp", target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
