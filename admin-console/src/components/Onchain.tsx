import type { Schemas } from '../api/client';
import { ErrorNote } from './ui';

type Records = Schemas['OnchainRecords'];
type OnchainRecord = Schemas['OnchainRecord'];

// What each status of GET /positions/{id}/onchain means to an operator.
const MEANING: Record<string, string> = {
  pending: 'queued, waiting to be sent',
  sent: 'sent, waiting for its confirmations',
  published: 'confirmed on chain',
  failed: 'retries ran out; held until the retry worker or `escrowgrid onchain retry` sends it again',
};

/** A position's events as mirrored on chain: one row per event, in log order. */
export function OnchainRecords({ records, error }: { records?: Records; error: unknown }) {
  return (
    <section className="card" aria-labelledby="onchain-title">
      <h2 id="onchain-title">On chain</h2>
      <ErrorNote error={error} />
      {!records && !error && <p>Loading on-chain records…</p>}
      {records && records.records.length === 0 && (
        <p className="hint" data-testid="onchain-empty">
          Not mirrored on chain: this position&apos;s template does not have{' '}
          <code>config.onchain.enabled</code> for this ledger&apos;s chain, so none of its events
          is published.
        </p>
      )}
      {records && records.records.length > 0 && <RecordTable rows={records.records} />}
    </section>
  );
}

function RecordTable({ rows }: { rows: OnchainRecord[] }) {
  const published = rows.filter((r) => r.status === 'published').length;
  return (
    <>
      <p role="status" data-testid="onchain-summary">
        {published} of {rows.length} events confirmed on chain.
      </p>
      <table aria-label="On-chain records">
        <thead>
          <tr>
            <th scope="col">Log position</th><th scope="col">Event</th><th scope="col">Status</th>
            <th scope="col">Transaction</th><th scope="col">Block</th><th scope="col">Attempts</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.logPosition} data-testid={`onchain-${r.logPosition}`} data-status={r.status}>
              <td>{r.logPosition}</td>
              <td>{r.kind}</td>
              <td>
                <span className={`badge onchain-${r.status}`} title={MEANING[r.status] ?? r.status}>{r.status}</span>
                {r.publishedAt && <> <time dateTime={r.publishedAt}>{new Date(r.publishedAt).toLocaleString()}</time></>}
              </td>
              <td>{r.txHash ? <code className="tx" title={r.txHash}>{r.txHash}</code> : '—'}</td>
              <td>{r.blockNumber ?? '—'}</td>
              <td>{r.attempts}</td>
              <td className={r.lastError ? 'error' : undefined}>{r.lastError ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
