import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, createApi, unwrap, type Schemas } from '../api/client';
import { defaultApiUrl, type Session } from '../session';
import { ErrorNote } from '../components/ui';

interface Props {
  initial: Session | null;
  onSignedIn: (session: Session, who: Schemas['WhoAmI']) => void;
}

async function whoAmI(session: Session): Promise<Schemas['WhoAmI']> {
  return unwrap(createApi(session).GET('/whoami'));
}

export function SignIn({ initial, onSignedIn }: Props) {
  const [apiUrl, setApiUrl] = useState(initial?.apiUrl ?? '');
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (initial) {
      // A reload in the same tab: the stored key still signs in, if the API still takes it.
      whoAmI(initial).then((who) => onSignedIn(initial, who), () => undefined);
    } else {
      defaultApiUrl().then((url) => setApiUrl((current) => current || url), () => undefined);
    }
  }, [initial, onSignedIn]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const session = { apiUrl: apiUrl.trim(), apiKey: apiKey.trim() };
    try {
      onSignedIn(session, await whoAmI(session));
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? new Error('The API refused this key.') : e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="signin">
      <h1>escrowgrid console</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <div className="field">
          <label htmlFor="api-url">API URL</label>
          <input id="api-url" type="url" required value={apiUrl} onChange={(e) => setApiUrl(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input id="api-key" type="password" required autoComplete="off" value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
        </div>
        <p className="hint">The key is kept for this tab only (sessionStorage) and is never logged.</p>
        <button type="submit" className="primary" disabled={busy}>Sign in</button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}
