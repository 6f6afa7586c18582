import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type Schemas } from '../api/client';
import { useAuth } from '../auth';
import { ErrorNote, Field } from '../components/ui';

export const REGIONS = ['US', 'EU_UK', 'SG', 'UAE'] as const;
export const VERTICALS = ['CONSTRUCTION', 'TRADE_FINANCE'] as const;
type Region = (typeof REGIONS)[number];
type Vertical = (typeof VERTICALS)[number];

function toggle<T>(list: T[], item: T): T[] {
  return list.includes(item) ? list.filter((x) => x !== item) : [...list, item];
}

export function Institutions() {
  const { api, who, canWrite } = useAuth();
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['institutions'], queryFn: () => unwrap(api.GET('/institutions')) });
  const [name, setName] = useState('');
  const [regions, setRegions] = useState<Region[]>(['US']);
  const [verticals, setVerticals] = useState<Vertical[]>(['CONSTRUCTION']);
  const create = useMutation({
    mutationFn: (body: Schemas['InstitutionBody']) => unwrap(api.POST('/institutions', { body })),
    onSuccess: () => {
      setName('');
      return client.invalidateQueries({ queryKey: ['institutions'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate({ name, regions, verticals });
  };
  return (
    <section>
      <h1>Institutions</h1>
      <ErrorNote error={list.error} />
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Regions</th><th scope="col">Verticals</th><th scope="col">Created</th></tr></thead>
        <tbody>
          {(list.data ?? []).map((i) => (
            <tr key={i.id}>
              <td><Link to={`/institutions/${i.id}`}>{i.name}</Link></td>
              <td>{i.regions.join(', ')}</td>
              <td>{(i.verticals ?? []).join(', ')}</td>
              <td>{new Date(i.createdAt).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && who.kind === 'root' && (
        <form onSubmit={submit} aria-label="New institution" className="card">
          <h2>New institution</h2>
          <Field label="Name" name="name" error={create.error}>
            <input id="f-name" required value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <fieldset>
            <legend>Regions</legend>
            {REGIONS.map((r) => (
              <label key={r} className="check">
                <input type="checkbox" checked={regions.includes(r)} onChange={() => setRegions(toggle(regions, r))} /> {r}
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>Verticals</legend>
            {VERTICALS.map((v) => (
              <label key={v} className="check">
                <input type="checkbox" checked={verticals.includes(v)} onChange={() => setVerticals(toggle(verticals, v))} /> {v}
              </label>
            ))}
          </fieldset>
          <button type="submit" className="primary" disabled={create.isPending}>Create institution</button>
          <ErrorNote error={create.error} />
        </form>
      )}
    </section>
  );
}
