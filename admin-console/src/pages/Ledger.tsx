import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { unwrap } from '../api/client';
import { useAuth } from '../auth';
import { ErrorNote, Field, shortId } from '../components/ui';

const LIMIT = 50;

export function Ledger() {
  const { api, who } = useAuth();
  const root = who.kind === 'root';
  const [after, setAfter] = useState(0);
  const [trail, setTrail] = useState<number[]>([]);
  const feed = useQuery({ queryKey: ['events', after], queryFn: () => unwrap(api.GET('/events', { params: { query: { after, limit: LIMIT } } })) });
  const digest = useQuery({ queryKey: ['digest'], queryFn: () => unwrap(api.GET('/ledger/digest')), enabled: root });
  const [position, setPosition] = useState('');
  const [published, setPublished] = useState('');
  const check = useMutation({
    mutationFn: () => unwrap(api.GET('/ledger/digest-at', { params: { query: { position: Number.parseInt(position, 10) } } })),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    check.mutate();
  };
  const current = digest.data as { position?: number; digest?: string } | undefined;
  const matches = check.data && check.data.digest === published.trim().toLowerCase();
  return (
    <section>
      <h1>Ledger</h1>
      {root && (
        <div className="card">
          <h2>Current digest</h2>
          <ErrorNote error={digest.error} />
          <dl className="facts">
            <dt>Log position</dt><dd data-testid="digest-position">{current?.position ?? '…'}</dd>
            <dt>Digest (sha256-chain-v1)</dt><dd><code data-testid="digest-value">{current?.digest ?? '…'}</code></dd>
          </dl>
          <form onSubmit={submit} aria-label="Check a published digest">
            <h3>Check a digest published earlier</h3>
            <Field label="Log position" name="position" error={check.error}>
              <input id="f-position" required inputMode="numeric" pattern="[0-9]+" value={position} onChange={(e) => setPosition(e.target.value)} />
            </Field>
            <Field label="Published digest (hex)" name="digest" error={check.error}>
              <input id="f-digest" required pattern="[0-9a-fA-F]{64}" value={published} onChange={(e) => setPublished(e.target.value)} />
            </Field>
            <button type="submit" className="primary" disabled={check.isPending}>Check digest</button>
            <ErrorNote error={check.error} />
            {check.data && (
              <p role="status" data-testid="digest-check" className={matches ? 'ok' : 'error'}>
                {check.data.digest === null ? `The log has not reached position ${check.data.position} yet.`
                  : matches ? `Matches: the log up to position ${check.data.position} is unchanged.`
                  : `Does not match: the log computes ${check.data.digest} at position ${check.data.position}.`}
                {!check.data.chainValid && ' The log itself has a broken hash chain.'}
              </p>
            )}
          </form>
        </div>
      )}
      <h2>Event feed</h2>
      <ErrorNote error={feed.error} />
      <table>
        <thead><tr><th scope="col">Position</th><th scope="col">Type</th><th scope="col">Stream</th><th scope="col">Version</th><th scope="col">Recorded</th><th scope="col">Hash</th></tr></thead>
        <tbody>
          {(feed.data?.data ?? []).map((e) => (
            <tr key={e.position}>
              <td>{e.position}</td><td>{e.type}</td><td><code>{shortId(String(e.streamId))}</code></td><td>{e.version}</td>
              <td>{new Date(String(e.recordedAt)).toLocaleString()}</td><td><code>{e.hash.slice(0, 16)}…</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav className="pager" aria-label="Feed pages">
        <button type="button" disabled={trail.length === 0} onClick={() => { setAfter(trail.at(-1) ?? 0); setTrail(trail.slice(0, -1)); }}>Previous</button>
        <button type="button" disabled={!feed.data?.hasMore} onClick={() => { setTrail([...trail, after]); setAfter(feed.data?.nextAfter ?? after); }}>Next</button>
      </nav>
    </section>
  );
}
