import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type Schemas } from '../api/client';
import { useAuth } from '../auth';
import { ErrorNote, Field, Money, Pager, StateBadge, shortId } from '../components/ui';
import { isPositive } from '../money';

export const STATES = ['CREATED', 'FUNDED', 'PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED'] as const;
type State = Schemas['PositionState'];
const LIMIT = 25;

export function Positions() {
  const { api, canWrite, who } = useAuth();
  const client = useQueryClient();
  const [params, setParams] = useSearchParams();
  const state = (params.get('state') ?? '') as State | '';
  const holder = params.get('holder') ?? '';
  const asset = params.get('asset') ?? '';
  const offset = Number.parseInt(params.get('offset') ?? '0', 10) || 0;
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === '') next.delete(k);
      else next.set(k, v);
    }
    if (!('offset' in changes)) next.delete('offset');
    setParams(next, { replace: true });
  };
  const list = useQuery({
    queryKey: ['positions', { state, holder, asset, offset }],
    queryFn: () =>
      unwrap(api.GET('/positions', {
        params: {
          query: {
            limit: LIMIT, offset,
            ...(state ? { state } : {}),
            ...(holder ? { holderReference: holder } : {}),
            ...(asset ? { assetId: asset } : {}),
          },
        },
      })),
    placeholderData: keepPreviousData,
  });
  const assets = useQuery({ queryKey: ['assets', 'all'], queryFn: () => unwrap(api.GET('/assets', { params: { query: { limit: 1000 } } })) });

  const [form, setForm] = useState({ assetId: '', holderReference: '', currency: 'USD', amount: '' });
  const create = useMutation({
    mutationFn: () => {
      const owner = assets.data?.data.find((a) => a.id === form.assetId);
      const extra = who.kind === 'root' && owner ? { institutionId: owner.institutionId } : {};
      return unwrap(api.POST('/positions', { body: { ...form, amount: form.amount.trim(), ...extra } }));
    },
    onSuccess: () => {
      setForm({ ...form, holderReference: '', amount: '' });
      return client.invalidateQueries({ queryKey: ['positions'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <section>
      <h1>Positions</h1>
      <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="filter-state">State</label>
          <select id="filter-state" value={state} onChange={(e) => set({ state: e.target.value })}>
            <option value="">any</option>
            {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-holder">Holder reference</label>
          <input id="filter-holder" defaultValue={holder} onBlur={(e) => set({ holder: e.target.value.trim() })}
            onKeyDown={(e) => { if (e.key === 'Enter') set({ holder: e.currentTarget.value.trim() }); }} />
        </div>
        <div className="field">
          <label htmlFor="filter-asset">Asset</label>
          <select id="filter-asset" value={asset} onChange={(e) => set({ asset: e.target.value })}>
            <option value="">any</option>
            {(assets.data?.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.label}</option>)}
          </select>
        </div>
      </form>
      <ErrorNote error={list.error} />
      <table aria-busy={list.isFetching}>
        <thead><tr><th scope="col">Position</th><th scope="col">Holder</th><th scope="col">State</th><th scope="col" className="num">Amount</th><th scope="col" className="num">Released</th><th scope="col" className="num">Remaining</th><th scope="col">Created</th></tr></thead>
        <tbody>
          {(list.data?.data ?? []).map((p) => (
            <tr key={p.id}>
              <td><Link to={`/positions/${p.id}`}>{shortId(p.id)}</Link></td>
              <td>{p.holderReference}</td>
              <td><StateBadge state={p.state} /></td>
              <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
              <td className="num"><Money amount={p.releasedAmount} currency={p.currency} /></td>
              <td className="num"><Money amount={p.remainingAmount} currency={p.currency} /></td>
              <td>{new Date(p.createdAt).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && <Pager total={list.data.pagination.total} limit={LIMIT} offset={offset} onOffset={(o) => set({ offset: String(o) })} />}
      {canWrite && (
        <form onSubmit={submit} aria-label="New position" className="card">
          <h2>New position</h2>
          <Field label="Asset" name="assetId" error={create.error}>
            <select id="f-assetId" required value={form.assetId} onChange={(e) => setForm({ ...form, assetId: e.target.value })}>
              <option value="">choose…</option>
              {(assets.data?.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.label}</option>)}
            </select>
          </Field>
          <Field label="Holder reference" name="holderReference" error={create.error}>
            <input id="f-holderReference" required value={form.holderReference} onChange={(e) => setForm({ ...form, holderReference: e.target.value })} />
          </Field>
          <Field label="Currency" name="currency" error={create.error}>
            <input id="f-currency" required value={form.currency} onChange={(e) => setForm({ ...form, currency: e.target.value })} />
          </Field>
          <Field label="Amount" name="amount" error={create.error}>
            <input id="f-amount" required inputMode="decimal" value={form.amount} onChange={(e) => setForm({ ...form, amount: e.target.value })} />
          </Field>
          <button type="submit" className="primary" disabled={create.isPending || !isPositive(form.amount)}>Create position</button>
          <ErrorNote error={create.error} />
          {create.data && <p role="status">Created <Link to={`/positions/${create.data.id}`}>{shortId(create.data.id)}</Link></p>}
        </form>
      )}
    </section>
  );
}
