"""farm.watch.skip: which series ask not to be tested."""

from __future__ import annotations

import base64

import pytest

from farm.watch.skip import Mail, is_rfc, mails, skip_reason


@pytest.mark.parametrize(
    ("subject", "rfc"),
    [
        ("[RFC] elf: a new idea", True),
        ("[RFC PATCH v2 1/3] elf: a new idea", True),
        ("[PATCH rfc] elf: lower case", True),
        ("[RFC,v2,1/3] elf: as patchwork names it", True),
        ("[PATCH v2][RFC] two tag groups", True),
        ("[PATCH] Follow RFC 9110 in the resolver", False),
        ("[PATCH] [RFCOMM] not the tag", False),
        ("elf: RFC first word is no tag", False),
        ("", False),
    ],
)
def test_rfc_is_a_word_of_the_leading_tags(subject: str, rfc: bool) -> None:
    assert is_rfc(subject) is rfc


def test_skip_reasons() -> None:
    plain = [Mail("[PATCH 1/1] x", "body\n\ndiff --git a/x b/x\n+CI-tag: skip\n")]
    assert skip_reason("x", ["[1/1] x"], [], plain) is None  # added by the diff: no skip
    quoted = [Mail("[PATCH 1/1] x", "> CI-tag: skip\n  CI-tag: skip\n")]
    assert skip_reason("x", ["[1/1] x"], [], quoted) is None
    tagged = [Mail("[PATCH 1/1] x", "Fixes it.\n\nci-TAG:  Skip \nSigned-off-by: A\n")]
    assert "'CI-tag: skip' in a patch" in str(skip_reason("x", [], [], tagged))
    cover = [Mail("[PATCH 0/2] x", "CI-tag: skip\n")]
    assert "the cover letter" in str(skip_reason("x", [], cover, plain))
    assert "[RFC] in the series name" in str(skip_reason("[RFC] x", [], [], plain))
    assert "[RFC] in a patch subject" in str(skip_reason("x", ["[RFC,1/1] x"], [], plain))


def test_mails_are_decoded_as_their_reader_sees_them() -> None:
    mbox = (
        b"From 1 Mon Sep 17 00:00:00 2001\n"
        b"Subject: [PATCH 1/1] x\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"Why.\n\nCI-tag: skip\n")
        + b"\n"
    )
    (mail,) = mails(mbox, what="test")
    assert mail.subject == "[PATCH 1/1] x"
    reason = skip_reason("x", [], [], [mail])
    assert reason is not None and "CI-tag: skip" in reason
