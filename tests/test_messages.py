"""Messages: inquiries and order conversations, the contact filter hook, read markers,
unread counts and sellers' response times."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

import microkit as mk
from microkit.config import MarketConfig
from microkit.messaging import ContactMatch

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def test_inquiry_before_buying_and_the_sellers_answer(seeded: World) -> None:
    m = seeded.market
    first = m.messages.inquire(seeded.service.id, by=seeded.amal, body="هل تصمم بالعربية؟",
                               attachments=["sample.png"])
    conv = first.conversation_id
    assert first.number == 1 and first.attachments == ("sample.png",)
    assert m.messages.unread_count(by=seeded.omar) == 1
    seeded.clock.advance(hours=3)
    m.messages.send(conv, by=seeded.omar, body="نعم")
    assert m.messages.unread_count(by=seeded.omar) == 0
    assert m.messages.unread_count(by=seeded.amal) == 1
    stats = m.messages.response_stats("omar")
    assert (stats.responses, stats.total_seconds, stats.within_day) == (1, 3 * 3600, 1)
    assert [x.body for x in m.messages.list(conv, by=seeded.amal)] == ["هل تصمم بالعربية؟",
                                                                      "نعم"]
    page = m.messages.conversations(by=seeded.omar)
    assert [c.id for c in page.items] == [conv]


def test_read_markers_and_unread_counts(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    conv = f"order:{order.id}"
    for n in range(3):
        m.messages.send(conv, by=seeded.omar, body=f"تحديث {n}")
    assert m.messages.get(conv, by=seeded.amal).buyer_unread == 3
    assert m.messages.mark_read(conv, by=seeded.amal, up_to=1).buyer_unread == 2
    assert m.messages.mark_read(conv, by=seeded.amal, up_to=0).buyer_read == 1  # never back
    assert m.messages.mark_read(conv, by=seeded.amal).buyer_unread == 0
    assert m.messages.unread_count(by=seeded.amal) == 0
    m.messages.send(conv, by=seeded.staff, body="support here")
    assert m.messages.unread_count(by=seeded.amal) == 1


def test_only_participants_and_staff(seeded: World) -> None:
    m = seeded.market
    m.users.register("huda", display_name="Huda")
    order = seeded.started()
    conv = f"order:{order.id}"
    m.messages.send(conv, by=seeded.amal, body="hi")
    with pytest.raises(mk.PermissionDenied):
        m.messages.send(conv, by=mk.Actor.user("huda"), body="hi")
    with pytest.raises(mk.PermissionDenied):
        m.messages.list(conv, by=mk.Actor.user("huda"))
    assert len(m.messages.list(conv, by=seeded.staff)) == 1
    with pytest.raises(mk.PermissionDenied):
        m.messages.inquire(seeded.service.id, by=seeded.omar, body="own service")
    with pytest.raises(mk.NotFound):
        m.messages.send("order:o_nope", by=seeded.amal, body="hi")


@pytest.mark.parametrize("body", ["", "   ", "x" * 100_000])
def test_bad_bodies_are_typed_errors_and_change_nothing(seeded: World, body: str) -> None:
    order = seeded.started()
    before = seeded.snapshot()
    with pytest.raises(mk.ValidationError) as err:
        seeded.market.messages.send(f"order:{order.id}", by=seeded.amal, body=body)
    assert err.value.field == "body"
    assert seeded.snapshot() == before


@pytest.mark.parametrize("text", ["رقمي ٠٩١٢٣٤٥٦٧٨", "mail me: a.b@gmail.com",
                                  "see https://example.com/x", "واتساب 0912345678"])
def test_contact_information_is_blocked_by_default(seeded: World, text: str) -> None:
    order = seeded.started()
    with pytest.raises(mk.ValidationError) as err:
        seeded.market.messages.send(f"order:{order.id}", by=seeded.amal, body=text)
    assert "contact information" in str(err.value)


def test_redact_mode_stores_the_message_without_the_contact(make_world: WorldFactory) -> None:
    world = make_world(MarketConfig.khamsat().evolve(message_filter="redact"))
    order = world.started()
    msg = world.market.messages.send(f"order:{order.id}", by=world.amal,
                                     body="اتصل على 0912345678 شكرا")
    assert "0912345678" not in msg.body and "***" in msg.body
    assert msg.redacted == ("phone",)


def test_filter_off_lets_everything_through(make_world: WorldFactory) -> None:
    world = make_world(MarketConfig.khamsat().evolve(message_filter="off"))
    order = world.started()
    msg = world.market.messages.send(f"order:{order.id}", by=world.amal, body="0912345678")
    assert msg.body == "0912345678"


@pytest.mark.parametrize("answer", [True, 5, RuntimeError("filter service down")])
def test_a_check_message_that_breaks_is_a_plugin_error_and_stores_nothing(
    make_world: WorldFactory, snapshot: Any, answer: object
) -> None:
    class Broken:
        @mk.hookimpl
        def microkit_check_message(self, text: str) -> object:
            if isinstance(answer, Exception):
                raise answer
            return answer

    world = make_world(plugins=(Broken(),))
    before = snapshot(world.market)
    with pytest.raises(mk.PluginError, match="microkit_check_message") as err:
        world.market.messages.inquire(world.service.id, by=world.amal, body="hello there")
    if isinstance(answer, Exception):
        assert err.value.__cause__ is answer
    assert snapshot(world.market) == before


def test_hook_check_message(make_world: WorldFactory) -> None:
    """A plugin's microkit_check_message answer wins over the built-in filter."""
    seen: list[tuple[str, str]] = []

    class AllowPhonesFlagSecret:
        @mk.hookimpl
        def microkit_check_message(
            self, text: str, sender: str, conversation_id: str, config: MarketConfig
        ) -> Sequence[ContactMatch] | None:
            seen.append((sender, conversation_id))
            start = text.find("secret")
            return [] if start < 0 else [ContactMatch("handle", start, start + 6, "secret")]

    world = make_world(plugins=(AllowPhonesFlagSecret(),))
    order = world.started()
    conv = f"order:{order.id}"
    assert world.market.messages.send(conv, by=world.amal, body="0912345678").body
    with pytest.raises(mk.ValidationError):
        world.market.messages.send(conv, by=world.amal, body="the secret word")
    assert seen[0] == ("user:amal", conv)
