import { Reporter, walkLocations, type Check } from './check.ts';

/** `auth_basic` with no `auth_basic_user_file` protects nothing (nginx lets it pass silently); say so. */
export const checkAuth: Check = (input) => {
  const r = new Reporter(input);
  const look = (settings: { authBasic: string | null; authBasicUserFile: string | null }, pointer: string) => {
    if (settings.authBasic !== null && settings.authBasicUserFile === null) {
      r.report('warning', 'auth-without-users', `${pointer}/settings/authBasic`, '`auth_basic` has no `auth_basic_user_file`: requests here are not asked for a password', 'add `auth_basic_user_file FILE;` at this level or above');
    }
  };
  input.ir.servers.forEach((server, s) => look(server.settings, `/servers/${s}`));
  for (const { location, pointer } of walkLocations(input.ir)) look(location.settings, pointer);
  return r.out;
};
