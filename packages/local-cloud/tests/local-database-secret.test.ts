import { describe, expect, it } from '@jest/globals';
import {
  databaseSecretArn,
  localDatabaseSecret,
  UnsupportedDatabaseUrlError,
} from '../src/local-database-secret.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-database';

describe('localDatabaseSecret', () => {
  it("holds the RDS JSON of the URL's user, and turns TLS off for a loopback server the URL reaches without", () => {
    const secret = localDatabaseSecret('postgres://sidestep:p%40ss@127.0.0.1:5432/sidestep');
    expect(JSON.parse(secret.value)).toEqual({
      engine: 'postgres',
      host: '127.0.0.1',
      port: 5432,
      username: 'sidestep',
      password: 'p@ss',
      dbname: 'sidestep',
    });
    expect(secret.clientEnvironment).toEqual({ DATABASE_TLS: 'off' });
  });

  it("names the user's database and port 5432 when the URL does not, and an empty password for the embedded server", () => {
    expect(JSON.parse(localDatabaseSecret('postgres://postgres@[::1]/').value)).toEqual({
      engine: 'postgres',
      host: '::1',
      port: 5432,
      username: 'postgres',
      password: '',
      dbname: 'postgres',
    });
  });

  it("keeps TLS for a server the URL asks it of, and gives the URL's options as PGOPTIONS", () => {
    const schema = `options=${encodeURIComponent('-c search_path=path_0123')}`;
    expect(localDatabaseSecret(`postgres://u:p@db.example.com:5432/d?${schema}`).clientEnvironment).toEqual({
      PGOPTIONS: '-c search_path=path_0123',
    });
    expect(localDatabaseSecret('postgres://u:p@127.0.0.1/d?sslmode=require').clientEnvironment).toEqual({});
    expect(localDatabaseSecret('postgres://u:p@db.example.com/d?sslmode=disable').clientEnvironment).toEqual({
      DATABASE_TLS: 'off',
    });
  });

  it('refuses a URL parameter the secret cannot carry', () => {
    expect(() => localDatabaseSecret('postgres://u:p@127.0.0.1/d?application_name=x')).toThrow(
      UnsupportedDatabaseUrlError,
    );
  });
});

describe('databaseSecretArn', () => {
  it("is the ARN the stack's functions get, else its tasks', else the local config's", () => {
    const task = (value: string) => ({
      container_definitions: JSON.stringify([{ environment: [{ name: 'DATABASE_SECRET_ARN', value }] }]),
    });
    expect(
      databaseSecretArn({
        resource: {
          aws_lambda_function: {
            plain: { environment: { variables: { OTHER: 'x' } } },
            reader: { environment: { variables: { DATABASE_SECRET_ARN: `${ARN}-AbCdEf` } } },
          },
        },
      }),
    ).toBe(`${ARN}-AbCdEf`);
    expect(
      databaseSecretArn({ resource: { aws_ecs_task_definition: { worker: task(`${ARN}-123456`) } } }),
    ).toBe(`${ARN}-123456`);
    expect(databaseSecretArn(undefined)).toBe(ARN);
  });
});
