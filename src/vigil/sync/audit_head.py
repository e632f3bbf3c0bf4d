"""`audit.head`: the hub asks the site for its audit chain as it is now (0065).

The reply (`wire.AuditHeadReply`) names the newest record, the retention anchor and the hash of
each asked seq (None: gone), so `vigil hub audit verify SITE` can tell which records the hub saw
that the site no longer has.
"""

from __future__ import annotations

from vigil.privacy.witness import chain_state
from vigil.sync import wire
from vigil.sync.commands import CommandContext, register


@register("audit.head", wire.AuditHeadAsk)
def audit_head(ctx: CommandContext, ask: wire.AuditHeadAsk) -> wire.AuditHeadReply:
    state = chain_state(ctx.db, ask.seqs)
    return wire.AuditHeadReply(
        last_seq=state.last_seq,
        last_hash=state.last_hash,
        anchor_seq=state.anchor_seq,
        hashes=state.hashes,
    )
