"""Data: leads' and submissions' email hashes are the hashes of their mailboxes
(clinic.crypto.mailbox_canonical), no longer of the lower-cased address, so that
"Dana.Smith+x@GoogleMail.com" finds the lead of "danasmith@gmail.com".

Only rows that still hold their address are rewritten (an anonymised row keeps no
hash). Two open leads that turn out to share a mailbox cannot both hold its hash (one
open lead per hash): the later one keeps no hash and is flagged for a coordinator, as
0006 did for addresses that differed only in case. Reversing writes the lower-cased
form back (it never collides: distinct mailboxes are distinct lower-cased addresses).
In batches of raw SQL: the audit triggers record each change as a change of the
lead's email_hash, with no user."""

from django.db import migrations

from clinic.crypto import email_hash, email_hash_lowercased

BATCH_SIZE = 500


def _batches(connection, table, *, where="", extra=""):
    """Lists of (id, email, email_hash, extra columns...) of the rows holding an
    address, ``BATCH_SIZE`` at a time, by id."""
    query = (
        f"SELECT id, email, email_hash{extra} FROM {table} "  # noqa: S608
        f"WHERE email <> '' AND id > %s {where} ORDER BY id LIMIT {BATCH_SIZE}"
    )
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query, [last])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _write(connection, table, changes, *, flag=False):
    """``changes``: [(new hash, id)]; with ``flag``, the rows are also marked for review."""
    review = ", needs_review = TRUE" if flag else ""
    update = f"UPDATE {table} SET email_hash = %s{review} WHERE id = %s"  # noqa: S608
    for start in range(0, len(changes), BATCH_SIZE):
        with connection.cursor() as cursor:
            cursor.executemany(update, changes[start : start + BATCH_SIZE])


def _rehash_all(connection, table, hashed, *, where=""):
    """Every row's new hash, batch by batch (no uniqueness to respect)."""
    for rows in _batches(connection, table, where=where):
        changes = [(new, pk) for pk, email, old in rows if (new := hashed(email)) != old]
        _write(connection, table, changes)


def _rehash(connection, hashed):
    _rehash_all(connection, "intake_submission", hashed)
    _rehash_all(connection, "intake_lead", hashed, where="AND stage = 'closed'")
    # Open leads (few, next to all of them): the earliest of a mailbox keeps its hash.
    # The others are cleared first, so no statement meets a hash another row holds.
    open_leads = sorted(
        (
            row
            for rows in _batches(
                connection, "intake_lead", where="AND stage <> 'closed'", extra=", created_at"
            )
            for row in rows
        ),
        key=lambda row: (row[3], row[0]),
    )
    taken, cleared, changes = set(), [], []
    for pk, email, old, _created in open_leads:
        new = hashed(email)
        if new in taken:
            cleared.append(("", pk))
            continue
        taken.add(new)
        if new != old:
            changes.append((new, pk))
    _write(connection, "intake_lead", cleared, flag=True)
    _write(connection, "intake_lead", changes)


def mailboxes_hash(apps, schema_editor):
    _rehash(schema_editor.connection, email_hash)


def lowercased_hash(apps, schema_editor):
    _rehash(schema_editor.connection, email_hash_lowercased)


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0012_lead_verification"),
    ]

    operations = [
        migrations.RunPython(mailboxes_hash, lowercased_hash),
    ]
