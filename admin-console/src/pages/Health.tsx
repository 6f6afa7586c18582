import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { unwrap } from '../api/client';
import { useAuth } from '../auth';
import { ErrorNote, Pager } from '../components/ui';

const LIMIT = 25;

export function Health() {
  const { api } = useAuth();
  const status = useQuery({ queryKey: ['projections'], queryFn: () => unwrap(api.GET('/projections/status')), refetchInterval: 5_000 });
  const [outcome, setOutcome] = useState<'' | 'accepted' | 'refused'>('');
  const [offset, setOffset] = useState(0);
  const audit = useQuery({
    queryKey: ['audit', outcome, offset],
    queryFn: () => unwrap(api.GET('/audit-events', { params: { query: { limit: LIMIT, offset, ...(outcome ? { outcome } : {}) } } })),
  });
  return (
    <section>
      <h1>Read side</h1>
      <ErrorNote error={status.error} />
      <table aria-label="Projections">
        <thead><tr><th scope="col">Projection</th><th scope="col" className="num">Position</th><th scope="col" className="num">Head</th><th scope="col" className="num">Lag (events)</th><th scope="col" className="num">Lag (s)</th><th scope="col">Held by</th></tr></thead>
        <tbody>
          {(status.data ?? []).map((r) => (
            <tr key={r.projection} data-testid={`projection-${r.projection}`}>
              <td>{r.projection}</td><td className="num">{r.position}</td><td className="num">{r.head}</td>
              <td className="num">{r.lagEvents}</td><td className="num">{r.lagSeconds.toFixed(3)}</td><td>{r.runner ?? 'none'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Audit trail</h2>
      <div className="field">
        <label htmlFor="outcome">Outcome</label>
        <select id="outcome" value={outcome} onChange={(e) => { setOutcome(e.target.value as '' | 'accepted' | 'refused'); setOffset(0); }}>
          <option value="">all</option><option value="accepted">accepted</option><option value="refused">refused</option>
        </select>
      </div>
      <ErrorNote error={audit.error} />
      <table aria-label="Audit events">
        <thead><tr><th scope="col">At</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">Request</th><th scope="col">From</th><th scope="col">Error</th></tr></thead>
        <tbody>
          {(audit.data?.data ?? []).map((a, i) => (
            <tr key={`${a.id ?? 'r'}-${i}`} className={a.outcome === 'refused' ? 'refused' : undefined}>
              <td>{new Date(a.at).toLocaleString()}</td><td>{a.action ?? '—'}</td><td>{a.outcome}</td>
              <td>{a.actorKeyId ?? '—'} {a.actorRole ? `(${a.actorRole})` : ''}</td><td><code>{a.requestId}</code></td>
              <td>{a.clientAddr ?? '—'}</td><td>{a.error ? `${a.error.code}: ${a.error.message}` : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {audit.data && <Pager total={audit.data.pagination.total} limit={LIMIT} offset={offset} onOffset={setOffset} />}
    </section>
  );
}
