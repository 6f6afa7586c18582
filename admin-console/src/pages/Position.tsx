import { useEffect, useState } from 'react';
import { useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, unwrap, type Schemas } from '../api/client';
import { useAuth } from '../auth';
import { verifyChain, decodeText, type CheckedEvent } from '../chain';
import { ConfirmButton, ErrorNote, Field, Money, StateBadge } from '../components/ui';
import { OnchainRecords } from '../components/Onchain';
import { atMost, isPositive } from '../money';

type State = Schemas['PositionState'];
type Position = Schemas['Position'];

// The moves escrowgrid/domain/lifecycle.py allows from each state.
const MOVES: Record<State, State[]> = {
  CREATED: ['FUNDED', 'CANCELLED', 'EXPIRED'],
  FUNDED: ['PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED'],
  PARTIALLY_RELEASED: ['PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED'],
  RELEASED: [],
  CANCELLED: [],
  EXPIRED: [],
};
const VERB: Record<State, string> = {
  CREATED: 'Create', FUNDED: 'Fund', PARTIALLY_RELEASED: 'Release part', RELEASED: 'Release',
  CANCELLED: 'Cancel', EXPIRED: 'Expire',
};

export function PositionPage() {
  const { id = '' } = useParams();
  const { api } = useAuth();
  const [asOf, setAsOf] = useState('');
  const position = useQuery({
    queryKey: ['position', id, asOf],
    queryFn: () => unwrap(api.GET('/positions/{id}', { params: { path: { id }, query: asOf ? { asOf } : {} } })),
  });
  const history = useQuery({
    queryKey: ['history', id],
    queryFn: () => unwrap(api.GET('/positions/{id}/history', { params: { path: { id } } })),
  });
  const onchain = useQuery({
    queryKey: ['onchain', id],
    queryFn: () => unwrap(api.GET('/positions/{id}/onchain', { params: { path: { id } } })),
    // Records move from pending to published while the page is open.
    refetchInterval: (query) => (query.state.data?.records.some((r) => r.status !== 'published') ? 3000 : false),
  });
  const p = position.data;
  return (
    <section>
      <h1>Position <code>{id}</code></h1>
      <ErrorNote error={position.error} />
      {p && <Summary position={p} past={asOf !== ''} />}
      {p && asOf === '' && <Actions position={p} />}
      <Timeline history={history.data} error={history.error} asOf={asOf} onAsOf={setAsOf} />
      <OnchainRecords records={onchain.data} error={onchain.error} />
    </section>
  );
}

function Summary({ position: p, past }: { position: Position; past: boolean }) {
  return (
    <div className="card summary" aria-label="Position">
      {past && <p className="hint" role="status">As it stood then (replayed from the log).</p>}
      <dl className="facts">
        <dt>State</dt><dd data-testid="state"><StateBadge state={p.state} /></dd>
        <dt>Holder</dt><dd>{p.holderReference}</dd>
        <dt>Amount</dt><dd data-testid="amount"><Money amount={p.amount} currency={p.currency} /></dd>
        <dt>Released</dt><dd data-testid="released"><Money amount={p.releasedAmount} currency={p.currency} /></dd>
        <dt>Remaining</dt><dd data-testid="remaining"><Money amount={p.remainingAmount} currency={p.currency} /></dd>
      </dl>
    </div>
  );
}

function Actions({ position: p }: { position: Position }) {
  const { api, canWrite } = useAuth();
  const client = useQueryClient();
  const [amount, setAmount] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const move = useMutation({
    mutationFn: (body: Schemas['TransitionBody']) =>
      unwrap(api.POST('/positions/{id}/transition', { params: { path: { id: p.id } }, body })),
    onMutate: () => setNotice(null),
    onSuccess: () => setAmount(''),
    onError: (error) => {
      if (error instanceof ApiError && error.status === 409) {
        setNotice('Another client moved this position at the same moment and won. The page now shows the position as it is; check it and retry if the move still makes sense.');
      }
    },
    onSettled: () => Promise.all([
      client.invalidateQueries({ queryKey: ['position', p.id] }),
      client.invalidateQueries({ queryKey: ['history', p.id] }),
      client.invalidateQueries({ queryKey: ['onchain', p.id] }),
      client.invalidateQueries({ queryKey: ['positions'] }),
    ]),
  });
  if (!canWrite) return null;
  const moves = MOVES[p.state];
  if (moves.length === 0) return <p className="hint">{p.state} is final: no move leaves it.</p>;
  const partialOk = isPositive(amount) && atMost(amount.trim(), p.remainingAmount);
  return (
    <div className="card" aria-label="Actions">
      <h2>Actions</h2>
      <div className="actions">
        {moves.filter((s) => s !== 'PARTIALLY_RELEASED').map((s) => (
          <ConfirmButton key={s} label={VERB[s]} danger={s === 'CANCELLED' || s === 'EXPIRED'}
            question={`${VERB[s]} this position (${p.state} → ${s})${s === 'RELEASED' ? `, releasing the remaining ${p.remainingAmount} ${p.currency}` : ''}?`}
            disabled={move.isPending} onConfirm={() => move.mutate({ toState: s })} />
        ))}
      </div>
      {moves.includes('PARTIALLY_RELEASED') && (
        <div className="partial">
          <Field label={`Amount to release (at most ${p.remainingAmount})`} name="amount" error={move.error}>
            <input id="f-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
          </Field>
          <ConfirmButton label="Release part" disabled={!partialOk || move.isPending}
            question={`Release exactly ${amount.trim()} ${p.currency} of ${p.remainingAmount} remaining?`}
            onConfirm={() => move.mutate({ toState: 'PARTIALLY_RELEASED', amount: amount.trim() })} />
        </div>
      )}
      {notice ? <p role="alert" className="error">{notice}</p> : <ErrorNote error={move.error} />}
    </div>
  );
}

type History = Schemas['PositionHistory'];

function Timeline({ history, error, asOf, onAsOf }: { history?: History; error: unknown; asOf: string; onAsOf: (v: string) => void }) {
  const [checked, setChecked] = useState<CheckedEvent[] | null>(null);
  useEffect(() => {
    let live = true;
    setChecked(null);
    if (history) void verifyChain(history.positionId, history.events).then((c) => { if (live) setChecked(c); });
    return () => { live = false; };
  }, [history]);
  if (error) return <ErrorNote error={error} />;
  if (!history) return <p>Loading history…</p>;
  const broken = checked?.findIndex((c) => c.verdict === 'broken') ?? -1;
  const cutoff = asOf ? Date.parse(asOf) : Number.POSITIVE_INFINITY;
  return (
    <section className="card" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Verified timeline</h2>
      <p data-testid="chain-verdict" role="status" className={broken >= 0 ? 'error' : 'ok'}>
        {checked === null ? 'Checking the hash chain…'
          : broken >= 0 ? `Chain broken at version ${history.events[broken]?.version}: recomputed in this browser, the stored event does not match its hash.`
          : `All ${checked.length} events verified in this browser (SHA-256 chain).`}
      </p>
      <div className="field">
        <label htmlFor="as-of">Time travel: the position as of</label>
        <select id="as-of" value={asOf} onChange={(e) => onAsOf(e.target.value)}>
          <option value="">now</option>
          {history.events.map((e) => (
            <option key={e.version} value={String(e.recordedAt)}>after version {e.version} ({e.type}, {new Date(String(e.recordedAt)).toLocaleString()})</option>
          ))}
        </select>
      </div>
      <ol className="timeline">
        {history.events.map((e, i) => {
          const verdict = checked?.[i];
          const later = Date.parse(String(e.recordedAt)) > cutoff;
          const meta = e.meta as Record<string, unknown>;
          return (
            <li key={e.version} className={`${later ? 'later' : ''} ${verdict?.verdict ?? ''}`} data-testid={`event-${e.version}`} data-verdict={verdict?.verdict ?? 'checking'} data-later={later}>
              <div className="event-head">
                <span className={`verdict verdict-${verdict?.verdict ?? 'checking'}`}>{verdict?.verdict ?? 'checking'}</span>
                <strong>v{e.version} {e.type}</strong>
                <time dateTime={String(e.recordedAt)}>{new Date(String(e.recordedAt)).toLocaleString()}</time>
                {later && <span className="later-tag">after the chosen instant</span>}
              </div>
              <dl className="facts small">
                <dt>Actor</dt><dd>{String(meta.actorKeyId ?? '—')} ({String(meta.actorRole ?? meta.action ?? '')})</dd>
                <dt>Request</dt><dd>{String(meta.requestId ?? '—')}</dd>
                <dt>Hash</dt><dd><code>{e.hash}</code></dd>
                <dt>Previous</dt><dd><code>{e.prevHash ?? '(first event: 32 zero bytes)'}</code></dd>
                {verdict?.verdict === 'broken' && (<><dt>Recomputed</dt><dd><code>{verdict.expected}</code> — {verdict.problem}</dd></>)}
              </dl>
              <details>
                <summary>Stored payload (the hashed bytes, decoded)</summary>
                <pre>{decodeText(e.stateBytes)}</pre>
              </details>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
