import { useMemo, useState } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { HashRouter, NavLink, Navigate, Route, Routes } from 'react-router-dom';
import { createApi, type Schemas } from './api/client';
import { AuthContext, type Auth } from './auth';
import { clearSession, loadSession, saveSession, type Session } from './session';
import { SignIn } from './pages/SignIn';
import { Institutions } from './pages/Institutions';
import { InstitutionPage } from './pages/Institution';
import { Templates } from './pages/Templates';
import { Assets } from './pages/Assets';
import { Positions } from './pages/Positions';
import { PositionPage } from './pages/Position';
import { Ledger } from './pages/Ledger';
import { Health } from './pages/Health';

const KIND_TEXT: Record<string, string> = {
  root: 'root key: every institution, every command',
  admin: 'admin key: reads and commands for its institution',
  read_only: 'read-only key: reads its institution, no commands',
};

export function App() {
  const [signedIn, setSignedIn] = useState<{ session: Session; who: Schemas['WhoAmI'] } | null>(null);
  const queryClient = useMemo(() => new QueryClient({ defaultOptions: { queries: { retry: 1, staleTime: 5_000 } } }), []);
  // The tab's stored session signs in after a reload; sign out forgets it, or it would sign in again.
  const [stored, setStored] = useState(loadSession);

  const auth: Auth | null = useMemo(() => {
    if (!signedIn) return null;
    return {
      session: signedIn.session,
      api: createApi(signedIn.session),
      who: signedIn.who,
      canWrite: signedIn.who.kind !== 'read_only',
      signOut: () => {
        clearSession();
        setStored(null);
        queryClient.clear();
        setSignedIn(null);
      },
    };
  }, [signedIn, queryClient]);

  if (!auth) {
    return (
      <SignIn
        initial={stored}
        onSignedIn={(session, who) => {
          saveSession(session);
          setSignedIn({ session, who });
        }}
      />
    );
  }
  const root = auth.who.kind === 'root';
  return (
    <QueryClientProvider client={queryClient}>
      <AuthContext.Provider value={auth}>
        <HashRouter>
          <a href="#main" className="skip">Skip to content</a>
          <header className="top">
            <strong>escrowgrid console</strong>
            <nav aria-label="Main">
              <NavLink to="/institutions">Institutions</NavLink>
              <NavLink to="/templates">Templates</NavLink>
              <NavLink to="/assets">Assets</NavLink>
              <NavLink to="/positions">Positions</NavLink>
              <NavLink to="/ledger">Ledger</NavLink>
              {root && <NavLink to="/health">Read side</NavLink>}
            </nav>
            <span className={`key-kind kind-${auth.who.kind}`} data-testid="key-kind" title={KIND_TEXT[auth.who.kind]}>
              {auth.who.kind} · {KIND_TEXT[auth.who.kind]}
            </span>
            <button type="button" onClick={auth.signOut}>Sign out</button>
          </header>
          <main id="main">
            <Routes>
              <Route path="/" element={<Navigate to={root ? '/institutions' : '/positions'} replace />} />
              <Route path="/institutions" element={<Institutions />} />
              <Route path="/institutions/:id" element={<InstitutionPage />} />
              <Route path="/templates" element={<Templates />} />
              <Route path="/assets" element={<Assets />} />
              <Route path="/positions" element={<Positions />} />
              <Route path="/positions/:id" element={<PositionPage />} />
              <Route path="/ledger" element={<Ledger />} />
              <Route path="/health" element={<Health />} />
              <Route path="*" element={<p>Nothing here.</p>} />
            </Routes>
          </main>
        </HashRouter>
      </AuthContext.Provider>
    </QueryClientProvider>
  );
}
