#!/usr/bin/env bash
# Lead's helper while this session's schema settles: (re)writes revision 0002 from models.py.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f migrations/versions/*_0002_*.py
export DATABASE_URL="sqlite:///$tmp/gen.sqlite"
/work/main/.venv/bin/flask --app app db upgrade 0001 >/dev/null 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
/work/main/.venv/bin/flask --app app db migrate -m "course administration, term record and live sessions" --rev-id 0002 >/dev/null 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
ls migrations/versions/*_0002_*.py
python3 - <<'PY'
import glob
path = glob.glob("migrations/versions/*_0002_*.py")[0]
text = open(path).read()
data_step = '''
    # The term's record for a database from before presenters were recorded: every slot whose
    # session has started, or that was already graded, records its holder group's members now
    # (the best record there is; from here on the app records them at the time).
    recorded = sa.text(
        "SELECT slot.id FROM slot JOIN paper_session ON paper_session.id = slot.session_id"
        " WHERE slot.group_id IS NOT NULL AND slot.presenters_recorded_at IS NULL"
        " AND (paper_session.starts_at <= :now"
        " OR EXISTS (SELECT 1 FROM score WHERE score.slot_id = slot.id))")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    bind = op.get_bind()
    slot_ids = [row[0] for row in bind.execute(recorded, {"now": now})]
    for slot_id in slot_ids:
        bind.execute(sa.text(
            "INSERT INTO slot_presenter (slot_id, user_id, recorded_at)"
            " SELECT slot.id, membership.user_id, :now FROM slot"
            " JOIN membership ON membership.group_id = slot.group_id WHERE slot.id = :slot_id"),
            {"now": now, "slot_id": slot_id})
        bind.execute(sa.text("UPDATE slot SET presenters_recorded_at = :now WHERE id = :slot_id"),
                     {"now": now, "slot_id": slot_id})
'''
marker = "    # ### end Alembic commands ###"
first = text.index(marker)
text = text[:first] + data_step.lstrip("\n") + "\n" + text[first:]
text = text.replace("from alembic import op\n", "from datetime import datetime, timezone\n\nfrom alembic import op\n", 1)
text = text.replace("server_default=sa.text('0')", "server_default=sa.false()")
open(path, "w").write(text)
PY
