"""Pilot tests of the layout on a small terminal (80x24) and on a large one: forms keep
their buttons on screen, the hex preview fits its width, the job bar's percentage."""

from __future__ import annotations

import re

import pytest
from helpers_ui import demo_client_fixture, make_app, run, settle, svg_lines, wait_for
from textual.pilot import Pilot
from textual.widgets import Button, Static

from redisfs_tui.ui.confirm import ConfirmModal
from redisfs_tui.ui.form import FormModal
from redisfs_tui.ui.preview_data import HEX_MAX_ROW, hex_line_width
from redisfs_tui.ui.typed_confirm import TypedConfirmModal

DEMO = "layoutdemo"
SMALL = (80, 24)
OFFSET = re.compile(r"^[0-9a-f]{8}  ")


mclient = demo_client_fixture(DEMO)


async def assert_buttons_visible(pilot: Pilot, what: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormModal), what=what)
    await settle(pilot, 1)
    dialog = pilot.app.screen.query_one(".dialog")
    inside = dialog.content_region
    for button in pilot.app.screen.query(Button):
        assert inside.contains_region(button.region), \
            f"{what}: button {button.id} at {button.region} is cut off (dialog {inside})"
    # and clicking them works: Cancel closes the form
    await pilot.click("#cancel")
    await settle(pilot, 1)
    assert not isinstance(pilot.app.screen, FormModal)


@pytest.mark.parametrize(("tab", "key", "what"), [
    ("mounts", "m", "mount form"),           # a select, an input, a checkbox and a note
    ("server", "c", "connect form"),         # three inputs
    ("filesystems", "n", "mkfs form"),       # an input and two selects
    ("filesystems", "s", "snapshot form"),   # a note and an input
])
def test_forms_show_their_buttons_at_80x24(redis_server, mclient, tab, key, what):
    app = make_app(redis_server.url, mclient, prefix=DEMO, tab=tab)

    async def scenario(pilot: Pilot) -> None:
        await pilot.press(key)
        await assert_buttons_visible(pilot, what)

    run(app, scenario, size=SMALL)


def preview_rows(app) -> list[str]:
    body = app.query_one("#preview-body", Static)
    return [body.render_line(y).text.rstrip() for y in range(body.size.height)]


@pytest.mark.parametrize("size", [SMALL, (160, 48), (240, 60)])
def test_hex_preview_rows_fit_the_width(redis_server, mclient, size):
    """Every row of the dump starts with its offset (none wraps), and a wide pane
    holds more bytes per row than a narrow one."""
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    async def scenario(pilot: Pilot) -> None:
        app.browser.navigate("/assets", "logo.png")
        await wait_for(pilot, lambda: "logo.png: binary" in str(
            app.query_one("#preview-header", Static).content), what="binary preview")
        await settle(pilot, 1)
        rows = [r for r in preview_rows(app) if r]
        assert len(rows) > 3
        wrapped = [r for r in rows if not OFFSET.match(r)]
        assert not wrapped, f"wrapped rows at {size}: {wrapped[:3]}"
        width = app.query_one("#preview-body", Static).size.width
        assert all(len(r) <= width for r in rows)
        step = int(rows[1][:8], 16) - int(rows[0][:8], 16)
        # as many bytes per row as fit: four more would not
        assert hex_line_width(step) <= width < hex_line_width(step + 4) or step == HEX_MAX_ROW
        assert step >= (4 if size == SMALL else 12)
        assert rows[0].startswith("00000000  89 50 4e 47")

    run(app, scenario, size=size)


def job_bar_line(app) -> str:
    return next(line for line in svg_lines(app.export_screenshot()) if "Cancel" in line)


def test_job_bar_shows_the_percentage_only_when_the_count_is_known(redis_server, mclient):
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    async def scenario(pilot: Pilot) -> None:
        bar = app.job_bar
        bar.display = True
        bar.update_progress(0, None, "walking /src")  # fsck: no count, no "--%"
        await settle(pilot, 1)
        assert "--%" not in job_bar_line(app) and "walking /src" in job_bar_line(app)
        bar.update_progress(5, 20, "", "entries")
        await settle(pilot, 1)
        assert "25%" in job_bar_line(app)
        bar.update_progress(0, 0, "empty.txt")  # a copy of empty files: nothing to count
        await settle(pilot, 1)
        line = job_bar_line(app)
        assert "100%" in line and "--%" not in line

    run(app, scenario, size=SMALL)


@pytest.mark.parametrize(("problem", "says"), [("missing", "does not exist"),
                                             ("not empty", "is not empty"),
                                             ("a file", "is not a directory")])
def test_mount_form_names_the_path_and_keeps_the_input(redis_server, mclient, tmp_path,
                                                       problem, says):
    """A bad mountpoint is reported in the form, naming the path; the form stays open
    with what the user typed (it used to close and say so in a notification)."""
    target = tmp_path / "mnt"
    if problem == "not empty":
        target.mkdir()
        (target / "keep.txt").write_text("x")
    elif problem == "a file":
        target.write_text("x")
    app = make_app(redis_server.url, mclient, prefix=DEMO, tab="mounts")

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="mount form")
        form = app.screen
        form.query_one("#field-mountpoint").value = str(target)
        await settle(pilot, 1)
        await pilot.click("#submit")
        await settle(pilot, 1)
        assert app.screen is form, "the form closed on an error"
        error = str(form.query_one("#form-error").content)
        assert str(target) in error and says in error, error
        assert form.query_one("#field-mountpoint").value == str(target)
        assert form.query_one("#form-error").region.height >= 1  # shown, even at 80x24

    run(app, scenario, size=SMALL)


def test_confirmations_with_long_messages_keep_their_buttons_at_80x24(redis_server, mclient):
    """A delete naming many mounts or files: the message scrolls, the buttons stay."""
    long_message = "\n".join(f"/mnt/host{n}: mounted" for n in range(40))
    app = make_app(redis_server.url, mclient, prefix=DEMO)

    async def scenario(pilot: Pilot) -> None:
        for screen in (ConfirmModal("Delete", long_message),
                       TypedConfirmModal("Delete filesystem", long_message, DEMO)):
            app.push_screen(screen)
            await settle(pilot, 1)
            inside = screen.query_one(".dialog").content_region
            for button in screen.query(Button):
                assert inside.contains_region(button.region), (screen, button.id)
            if isinstance(screen, TypedConfirmModal):  # type the name, Enter confirms
                typed = screen.query_one("#typed")
                typed.focus()
                await pilot.press(*DEMO)
                await settle(pilot, 1)
                assert inside.contains_region(typed.region)
                assert not screen.query_one("#confirm", Button).disabled
            await pilot.press("escape")
            await settle(pilot, 1)

    run(app, scenario, size=SMALL)


def test_a_failed_connect_reopens_the_form_with_the_input_and_the_error(redis_server,
                                                                        mclient):
    app = make_app(redis_server.url, mclient, tab="server")
    url = "redis://127.0.0.1:1/0"

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
        app.screen.query_one("#field-url").value = url
        app.screen.query_one("#field-username").value = "alice"
        first = app.screen
        await pilot.click("#submit")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal) and
                       app.screen is not first, what="the form again")
        form = app.screen
        await wait_for(pilot, lambda: form.is_mounted, what="form mounted")
        await settle(pilot, 1)
        assert form.query_one("#field-url").value == url
        assert form.query_one("#field-username").value == "alice"
        error = str(form.query_one("#form-error").content)
        assert "127.0.0.1:1" in error and "Cannot connect" in error
        assert app.client is mclient

    run(app, scenario, size=SMALL)


def test_a_failed_mkfs_reopens_the_form_naming_the_prefix(redis_server, mclient):
    app = make_app(redis_server.url, mclient, tab="filesystems")

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal), what="form")
        first = app.screen
        first.query_one("#field-prefix").value = DEMO  # exists already
        first.query_one("#field-codec").value = "raw"
        await pilot.click("#submit")
        await wait_for(pilot, lambda: isinstance(app.screen, FormModal) and
                       app.screen is not first, what="the form again")
        form = app.screen
        await settle(pilot, 1)
        assert form.query_one("#field-prefix").value == DEMO
        assert form.query_one("#field-codec").value == "raw"
        assert DEMO in str(form.query_one("#form-error").content)

    run(app, scenario, size=SMALL)
