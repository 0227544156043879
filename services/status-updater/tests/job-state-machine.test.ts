import { describe, expect, it } from '@jest/globals';
import { JobEvent, JobState } from '@sidestep/contracts';
import {
  assertFinishable,
  JOB_TRANSITIONS,
  nextState,
  TERMINAL_STATES,
} from '../src/domain/job-state-machine.ts';
import { InvalidTransitionError, RowCountsMissingError } from '../src/errors.ts';

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
    expect(() => assertFinishable({ id: 'exp_1', kind: 'export', rowsTotal: null })).not.toThrow();
  });
});
