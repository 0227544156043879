import { describe, expect, it } from '@jest/globals';
import { JobEvent, JobState } from '@sidestep/contracts';
import { InvalidTransitionError, RowCountsMissingError } from '../src/errors.ts';
import {
  assertFinishable,
  deadlineMissedReason,
  JOB_DEADLINE_SECONDS,
  JOB_TRANSITIONS,
  nextState,
  startDeadlineSeconds,
  TERMINAL_STATES,
} from '../src/job-state-machine.ts';

const events = JobEvent.options;
const states = JobState.options;

/** The expected machine, written out by hand: [state, event] -> next state, absent when refused. */
const EXPECTED: Record<string, string> = {
  'registered start': 'running',
  'registered fail': 'failed',
  'running finish': 'succeeded',
  'running fail': 'failed',
};

describe('job state machine', () => {
  it.each(states.flatMap((state) => events.map((event) => [state, event] as const)))(
    'in %s, %s goes where the table says or is refused with InvalidTransitionError',
    (state, event) => {
      const expected = EXPECTED[`${state} ${event}`];
      if (expected) {
        expect(nextState('imp_1', state, event)).toBe(expected);
        return;
      }
      let thrown: unknown;
      try {
        nextState('imp_1', state, event);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidTransitionError);
      // Step Functions' Catch matches this exact string.
      expect(thrown).toMatchObject({
        name: 'InvalidTransitionError',
        permanent: true,
        field: 'event',
        jobId: 'imp_1',
        event,
        from: state,
      });
      expect((thrown as Error).message).toContain(`cannot ${event} job imp_1 in state ${state}`);
    },
  );

  it('lets no event leave a terminal state', () => {
    for (const state of TERMINAL_STATES) {
      expect(events.filter((event) => JOB_TRANSITIONS[event].from.includes(state))).toEqual([]);
    }
  });

  it('reaches every state from register, and every non-terminal state can fail', () => {
    const reached = new Set<string>([JOB_TRANSITIONS.register.to]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const event of events) {
        const { from, to } = JOB_TRANSITIONS[event];
        if (!reached.has(to) && from.some((state) => reached.has(state))) {
          reached.add(to);
          grew = true;
        }
      }
    }
    expect([...reached].sort()).toEqual([...states].sort());
    for (const state of states.filter((s) => !TERMINAL_STATES.includes(s))) {
      expect(JOB_TRANSITIONS.fail.from).toContain(state);
    }
  });

  it('has register create a job rather than move one', () => {
    expect(JOB_TRANSITIONS.register).toEqual({ from: [], to: 'registered' });
    for (const state of states)
      expect(() => nextState('imp_1', state, 'register')).toThrow(InvalidTransitionError);
  });

  it('lets an import finish only with the row counts its worker recorded', () => {
    expect(() => assertFinishable({ id: 'imp_1', kind: 'import', rowsTotal: null })).toThrow(
      RowCountsMissingError,
    );
    expect(() => assertFinishable({ id: 'imp_1', kind: 'import', rowsTotal: null })).toThrow(
      expect.objectContaining({ name: 'RowCountsMissingError', permanent: true, field: 'rows_total' }),
    );
    expect(() => assertFinishable({ id: 'imp_1', kind: 'import', rowsTotal: 0 })).not.toThrow();
  });

  it("lets an export finish only with the finalizer's result, and an import only without one", () => {
    const result = {
      key: 'exports/exp_1/users.csv.gz',
      rows: 0,
      bytes: 20,
      downloadUrl: 'https://d.example/x',
    };
    expect(() => assertFinishable({ id: 'exp_1', kind: 'export', rowsTotal: null }, result)).not.toThrow();
    expect(() => assertFinishable({ id: 'exp_1', kind: 'export', rowsTotal: null })).toThrow(
      expect.objectContaining({ name: 'ExportResultMissingError', permanent: true, field: 'result' }),
    );
    expect(() => assertFinishable({ id: 'imp_1', kind: 'import', rowsTotal: 5 }, result)).toThrow(
      expect.objectContaining({ name: 'InvalidInputError', permanent: true, field: 'result' }),
    );
  });

  it('gives every kind a deadline beyond the longest task a workflow waits for', () => {
    // The batch-worker's default task timeout is one hour; a job inside it must never be swept.
    for (const seconds of Object.values(JOB_DEADLINE_SECONDS)) expect(seconds).toBeGreaterThan(3600);
    expect(deadlineMissedReason(new Date('2026-11-24T12:00:00Z'))).toBe(
      'no progress before the deadline (2026-11-24T12:00:00.000Z)',
    );
  });

  it("keeps a job running for its start's deadlineSeconds, else its kind's default", () => {
    expect(startDeadlineSeconds('export', 600)).toBe(600);
    expect(startDeadlineSeconds('import')).toBe(JOB_DEADLINE_SECONDS.import);
  });
});
