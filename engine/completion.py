"""Shell completion (click's own, for bash, zsh and fish) of what only the engine knows: run ids in the
journal directory, and the input names of the playbook already on the command line (`--var rev=`).

Enable it with `eval "$(_PLAYBOOK_COMPLETE=bash_source playbook)"` (zsh: `zsh_source`; fish:
`_PLAYBOOK_COMPLETE=fish_source playbook | source`). Completion never fails loudly: a journal or playbook
that cannot be read completes nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import CompletionItem


def complete_run_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Run ids of the journal directory (newest first), with each run's status and playbook as help."""
    from .errors import JournalError
    from .history import runs_dir_of
    from .journal import read_journal
    from .runs import run_ids
    runs_dir = runs_dir_of(ctx.params.get("runs_dir"))
    items = []
    for run_id in reversed(run_ids(runs_dir)):
        if not run_id.startswith(incomplete):
            continue
        try:
            view = read_journal(runs_dir / run_id)
            help_text = f"{view.state.status()} · {view.meta.get('playbook', {}).get('name', '?')}"
        except (JournalError, OSError):
            help_text = "damaged"
        items.append(CompletionItem(run_id, help=help_text))
    if "last".startswith(incomplete) and items:
        items.append(CompletionItem("last", help="the newest run"))
    return items


def complete_input_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`NAME=` for each input of the playbook given as FILE (required ones first), once a KEY is being typed."""
    from .errors import PlaybookError
    from .model import load_playbook
    file = ctx.params.get("file") or _file_from_words()
    if "=" in incomplete or not file:
        return []
    try:
        playbook = load_playbook(file)
    except (PlaybookError, OSError):
        return []
    given = {v.partition("=")[0] for v in ctx.params.get("var") or ()}
    specs = sorted(playbook.inputs.values(), key=lambda s: (not (s.required and not s.has_default), s.name))
    return [CompletionItem(f"{s.name}=", help=("required" if s.required and not s.has_default else "optional")
                           + (f": {s.description}" if s.description else ""))
            for s in specs if s.name.startswith(incomplete) and s.name not in given]


def _file_from_words() -> str | None:
    """The playbook named on the line being completed. click loses the parsed arguments while an option
    (`--var`) still waits for its value, so read the words the shell passed (COMP_WORDS, all three shells)."""
    import shlex
    try:
        words = shlex.split(os.environ.get("COMP_WORDS", ""))
    except ValueError:
        return None
    for word in words[2:]:
        if word.endswith((".yaml", ".yml")) and Path(word).is_file():
            return word
    return None
