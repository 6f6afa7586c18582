import { createContext, useContext } from 'react';
import type { ApiClient, Schemas } from './api/client';
import type { Session } from './session';

export type WhoAmI = Schemas['WhoAmI'];

export interface Auth {
  session: Session;
  api: ApiClient;
  who: WhoAmI;
  canWrite: boolean;
  signOut: () => void;
}

export const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (auth === null) throw new Error('useAuth outside a signed-in console');
  return auth;
}
