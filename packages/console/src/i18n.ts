import { MAIL_RECORD_EXPIRED } from '@sidestep/ops';

/** The console's words in English; every other catalogue has the same keys (the type says so). */
const EN = {
  'nav.overview': 'Overview',
  'nav.workflows': 'Workflows',
  'nav.queues': 'Queues',
  'nav.jobs': 'Jobs',
  'nav.schedules': 'Schedules',
  'nav.mail': 'Mail',
  'nav.audit': 'Audit',
  'app.environment': 'environment {environment}',
  'app.live': 'live',
  'app.stale': 'The live view could not refresh: this page shows what it read last, and keeps trying.',
  'app.language': 'Language',
  'app.next': 'Next page',
  'app.first': 'First page',
  'app.none': 'Nothing here.',
  'app.error': 'The action failed',
  'app.done': 'Done',
  'app.forbidden': 'Refused: this request did not come from the console’s own page.',
  'app.unknownAction':
    'action-id: not an action id this console gave a form posting to {path}. Open the page again and press its button.',
  'app.notFound': 'No such page.',
  'app.refused': 'Refused',
  'app.crossSite':
    'Refused: another site sent this request. From another site, the console only opens pages that change nothing.',
  'app.receiveRefused':
    'Not read: showing this page receives the queue’s messages from SQS (each is hidden for a moment and its receive count goes up by one), so the console does it only for an address you open yourself or a link of its own pages. This request came from another site, or did not say where it came from.',
  'app.receiveConfirm': 'Read them now',
  'app.signIn': 'Not signed in',
  'app.signInHow':
    'To use this console, open the URL the console printed when it started (sidestep console, or the banner of npm start): it carries this launch’s secret (?token=…), and opening it signs this browser in. A restarted console prints a new one.',
  'app.signInAgain':
    'Opened it already in this browser? The console’s cookie is not sent when another site’s link leads here:',
  'app.signInAgainLink': 'open this page from here',
  'app.skipToMain': 'Skip to the page’s content',
  'overview.title': 'Overview',
  'overview.failures': 'Recent failures',
  'overview.noFailures': 'No failures in the last 24 hours.',
  'overview.deadLetters': '{count} dead-lettered messages in {queue}',
  'overview.ledgerUnavailable': 'The jobs ledger is not reachable from here (pass --database-url).',
  'col.queue': 'Queue',
  'col.visible': 'Visible',
  'col.inFlight': 'In flight',
  'col.delayed': 'Delayed',
  'col.deadLetters': 'Dead letters',
  'col.workflow': 'Workflow',
  'col.running': 'Running',
  'col.failed24h': 'Failed (24 h)',
  'col.succeeded24h': 'Succeeded (24 h)',
  'col.registered': 'Registered',
  'col.job': 'Job',
  'col.kind': 'Kind',
  'col.state': 'State',
  'col.attempt': 'Attempt',
  'col.file': 'File',
  'col.progress': 'Progress',
  'col.error': 'Error',
  'col.created': 'Created',
  'col.updated': 'Updated',
  'col.execution': 'Execution',
  'col.status': 'Status',
  'col.started': 'Started',
  'col.stopped': 'Stopped',
  'col.redrives': 'Redrives',
  'col.state.name': 'State',
  'col.type': 'Type',
  'col.entered': 'Entered',
  'col.duration': 'Duration',
  'col.retries': 'Retries',
  'col.message': 'Message',
  'col.reason': 'Reason',
  'col.line': 'Line',
  'col.field': 'Field',
  'col.receives': 'Receives',
  'col.age': 'Age',
  'col.schedule': 'Schedule',
  'col.expression': 'Expression',
  'col.nextFire': 'Next fire (its time zone)',
  'col.target': 'Target',
  'col.at': 'At',
  'col.operator': 'Operator',
  'col.action': 'Action',
  'col.result': 'Result',
  'col.details': 'Details',
  'col.subject': 'Subject',
  'col.to': 'To',
  'col.from': 'From',
  'col.date': 'Date',
  'col.mailKey': 'Mail',
  'col.inProgressUntil': 'In progress until',
  'col.expires': 'Expires',
  'col.event': 'Event',
  'col.transition': 'Transition',
  'col.check': 'Redrive would',
  'workflows.title': 'Workflows',
  'workflows.executions': 'Executions',
  'workflows.allStatuses': 'all',
  'execution.title': 'Execution {name}',
  'execution.graph': 'Graph',
  'execution.timeline': 'Event timeline',
  'execution.input': 'Input',
  'execution.output': 'Output',
  'execution.errorCause': 'Error and cause',
  'execution.job': 'Job',
  'execution.redrive': 'Redrive',
  'execution.redriven': 'Redriven at {date}',
  'execution.notRedrivable': 'Cannot be redriven: {reason}',
  'execution.stop': 'Stop',
  'execution.stopCause': "Why (recorded, and in the job's failure)",
  'execution.stopped': 'Stopped at {date}',
  'execution.stopped.fails':
    'Job {jobId} fails: the job-sweeper fails it with this cause and mails its failure.',
  'execution.stopped.succeeded':
    'Job {jobId} had already succeeded: its result stands, and its success mail is sent (once).',
  'execution.stopped.failed': 'Job {jobId} had already failed: its failure mail is queued.',
  'execution.stopped.unread':
    'Job {jobId} could not be read: it fails and is mailed, unless it had already succeeded (then its result stands and its success mail is sent).',
  'execution.stopped.none': 'The execution had registered no job.',
  'graph.label': 'The {workflow} workflow',
  'legend.succeeded': 'succeeded',
  'legend.failed': 'failed',
  'legend.running': 'running',
  'legend.notRun': 'not run',
  'queues.title': 'Queues',
  'queues.ruleDeadLetters': 'Dead-letter queues without a source queue',
  'queues.noRedrive':
    'No redrive: this queue has no source queue to move its messages back to. Fire the schedule again, start the workflow, or invoke the target again.',
  'queues.deadLetters': 'Dead letters of {queue}',
  'queues.preview': 'Preview redrive (dry run)',
  'queues.previewTitle': 'Redrive preview of {queue}: nothing was moved',
  'queues.wouldPass': 'pass the contracts',
  'queues.wouldFail': 'fail again: {field}',
  'queues.summary': '{valid} would pass, {invalid} would fail again',
  'queues.bodyCut': '… {more} more characters not shown (the CLI prints every body whole with --json)',
  'queues.unchecked':
    '(the first {checked} of about {total} dead letters were checked; the {unchecked} others were not, and a redrive moves them too)',
  'queues.redrive': 'Redrive {count} messages to {queue}',
  'queues.redriven': 'Redrive {status}: moved {moved}',
  'queues.peekNote':
    'SQS has no cursor over a queue: the first {limit} messages are read and made visible again at once.',
  'queues.more': 'Read {limit}',
  'async.title': 'Failed asynchronous invocations',
  'async.of': 'Failed asynchronous invocations of {service}',
  'async.intro':
    'Events a schedule or a rule invoked the function with that failed every attempt: Lambda keeps each one’s record in {queue}.',
  'async.count': '{count} failed asynchronous invocations of {service}',
  'async.reinvoke': 'Invoke {service} again with every event in its queue (up to {limit})',
  'async.reinvoked': 'Re-invoked {count}; their records are deleted',
  'col.service': 'Service',
  'col.failures': 'Failed invocations',
  'col.oldest': 'Oldest',
  'col.failedAt': 'Failed at',
  'col.condition': 'Condition',
  'col.attempts': 'Attempts',
  'col.trigger': 'Invoked by',
  'jobs.title': 'Jobs',
  'jobs.all': 'all',
  'job.title': 'Job {id}',
  'job.retry': 'Retry',
  'job.rerunning': 'Its task failed and runs again after a wait',
  'job.stalled': 'Its execution ended {status}: nothing runs this job again until it is redriven or failed.',
  'job.taskFailure': 'Its task’s last failure',
  'job.failByCli': 'End the job with',
  'job.retried': 'Retried: attempt {attempt} started',
  'job.executions': 'Executions (every attempt)',
  'job.logs': 'Logs: every line the functions and the batch task wrote about this job',
  'jobLogs.title': 'Logs of {id}',
  'jobLogs.searched':
    '{count} lines from {groups} log groups, oldest first: the lines naming this job or one of its executions.',
  'jobLogs.truncated': 'The oldest {count}: `sidestep job logs {id} --limit <n>` shows up to {max}.',
  'col.source': 'Source',
  'col.level': 'Level',
  'col.fields': 'Fields',
  'job.mails': 'Mails',
  // sidestep job's own words for it.
  'job.mailExpired': MAIL_RECORD_EXPIRED,
  'job.sweepMailRefused': 'Failure mail refused, not sent',
  'job.sweepMailPending': 'Failure mail not queued yet, tried again every sweep',
  'job.sweepMailQueued': 'Failure mail queued',
  'job.transitions': 'Transitions',
  'job.attemptN': 'attempt {n}',
  'job.rows': '{done} of {total} rows',
  'job.rowsNoTotal': '{done} rows so far',
  'job.rowsExported': '{total} rows exported',
  'job.staging': 'Staging',
  'job.stagingProgress':
    '{records} records, {bytes}, {validated} of {segments} segments validated, {rejected} rows rejected so far',
  'job.stagingBytes': '{staged} of {total} MiB ({percent}%)',
  'job.stagingBytesNoTotal': '{staged} MiB',
  'job.usersWritten': 'Users new or changed: {count}',
  'job.exportProgress': 'Exported so far',
  'job.exportProgressLine': '{rows} rows read, {parts} parts uploaded ({bytes} MiB gzip)',
  'job.rejected': 'Rejected rows ({count})',
  'job.rejectedNote': 'Every row the import left out, by line.',
  'job.rejectedCsv': 'Download them all as CSV',
  'job.rowErrorsNote': 'The first {shown} of {count} rejected rows. The import failed: no row was imported.',
  'schedules.title': 'Schedules',
  'schedules.runNow': 'Run now',
  'schedules.pause': 'Pause',
  'schedules.resume': 'Resume',
  'schedules.fired': 'Fired {schedule} (event {eventId})',
  'schedules.paused': '{schedule} is now {state}',
  'schedules.localClock':
    'The local cloud fires schedules on its own clock: pause and resume work against AWS.',
  'mail.title': 'Mail outbox',
  'mail.localOnly': 'The outbox is the local SMTP sink’s: on AWS, mail goes out through SES.',
  'mail.html': 'HTML',
  'mail.text': 'Text',
  'audit.title': 'Audit',
} as const;

/** A key of the catalogues. */
export type MessageKey = keyof typeof EN;

const JA: Readonly<Record<MessageKey, string>> = {
  'nav.overview': '概要',
  'nav.workflows': 'ワークフロー',
  'nav.queues': 'キュー',
  'nav.jobs': 'ジョブ',
  'nav.schedules': 'スケジュール',
  'nav.mail': 'メール',
  'nav.audit': '監査',
  'app.environment': '環境 {environment}',
  'app.live': 'ライブ',
  'app.stale':
    'ライブ表示を更新できませんでした。このページは最後に読み取った内容のまま、再試行を続けています。',
  'app.language': '言語',
  'app.next': '次のページ',
  'app.first': '最初のページ',
  'app.none': '項目はありません。',
  'app.error': '操作に失敗しました',
  'app.done': '完了',
  'app.forbidden': '拒否: このリクエストはコンソール自身のページから送られていません。',
  'app.unknownAction':
    'action-id: {path} に送るフォームにこのコンソールが付けた操作 ID ではありません。ページを開き直して、そのボタンを押してください。',
  'app.notFound': 'ページが見つかりません。',
  'app.refused': '拒否しました',
  'app.crossSite':
    '拒否: このリクエストは別のサイトから送られました。別のサイトからは、何も変更しないページを開くことだけに応じます。',
  'app.receiveRefused':
    '読み取っていません: このページを表示すると SQS からキューのメッセージを受信します（各メッセージが一時的に見えなくなり、受信回数が 1 増えます）。そのため、ご自身で開いたアドレスかコンソール自身のページのリンクからだけ行います。このリクエストは別のサイトから送られたか、送信元を示していません。',
  'app.receiveConfirm': '今すぐ読み取る',
  'app.signIn': 'サインインしていません',
  'app.signInHow':
    'このコンソールを使うには、起動時にコンソールが表示した URL（sidestep console の出力、または npm start のバナー）を開いてください。その URL には今回の起動の秘密の値（?token=…）が含まれ、開くとこのブラウザがサインインします。再起動したコンソールは新しい URL を表示します。',
  'app.signInAgain':
    'このブラウザで既に開きましたか？ 他のサイトのリンクから来たときは、コンソールの Cookie は送られません:',
  'app.signInAgainLink': 'ここからこのページを開く',
  'app.skipToMain': 'ページの内容へ移動',
  'overview.title': '概要',
  'overview.failures': '最近の失敗',
  'overview.noFailures': '過去24時間に失敗はありません。',
  'overview.deadLetters': '{queue} にデッドレターが {count} 件',
  'overview.ledgerUnavailable': 'ジョブ台帳にここから接続できません（--database-url を指定してください）。',
  'col.queue': 'キュー',
  'col.visible': '待機中',
  'col.inFlight': '処理中',
  'col.delayed': '遅延',
  'col.deadLetters': 'デッドレター',
  'col.workflow': 'ワークフロー',
  'col.running': '実行中',
  'col.failed24h': '失敗（24時間）',
  'col.succeeded24h': '成功（24時間）',
  'col.registered': '登録済み',
  'col.job': 'ジョブ',
  'col.kind': '種類',
  'col.state': '状態',
  'col.attempt': '試行',
  'col.file': 'ファイル',
  'col.progress': '進捗',
  'col.error': 'エラー',
  'col.created': '作成',
  'col.updated': '更新',
  'col.execution': '実行',
  'col.status': 'ステータス',
  'col.started': '開始',
  'col.stopped': '終了',
  'col.redrives': '再実行',
  'col.state.name': 'ステート',
  'col.type': 'タイプ',
  'col.entered': '開始時刻',
  'col.duration': '所要時間',
  'col.retries': 'リトライ',
  'col.message': 'メッセージ',
  'col.reason': '理由',
  'col.line': '行',
  'col.field': '項目',
  'col.receives': '受信回数',
  'col.age': '経過',
  'col.schedule': 'スケジュール',
  'col.expression': '式',
  'col.nextFire': '次回実行（各タイムゾーン）',
  'col.target': 'ターゲット',
  'col.at': '日時',
  'col.operator': 'オペレーター',
  'col.action': '操作',
  'col.result': '結果',
  'col.details': '詳細',
  'col.subject': '件名',
  'col.to': '宛先',
  'col.from': '送信者',
  'col.date': '日付',
  'col.mailKey': 'メール',
  'col.inProgressUntil': '処理中の期限',
  'col.expires': '有効期限',
  'col.event': 'イベント',
  'col.transition': '遷移',
  'col.check': '再投入すると',
  'workflows.title': 'ワークフロー',
  'workflows.executions': '実行',
  'workflows.allStatuses': 'すべて',
  'execution.title': '実行 {name}',
  'execution.graph': 'グラフ',
  'execution.timeline': 'イベントタイムライン',
  'execution.input': '入力',
  'execution.output': '出力',
  'execution.errorCause': 'エラーと原因',
  'execution.job': 'ジョブ',
  'execution.redrive': '再実行（Redrive）',
  'execution.redriven': '{date} に再実行しました',
  'execution.notRedrivable': '再実行できません: {reason}',
  'execution.stop': '停止',
  'execution.stopCause': '理由（記録され、ジョブの失敗理由になります）',
  'execution.stopped': '{date} に停止しました',
  'execution.stopped.fails':
    'ジョブ {jobId} は失敗になります: job-sweeper がこの理由で失敗にし、失敗メールを送ります。',
  'execution.stopped.succeeded':
    'ジョブ {jobId} はすでに成功していました: 結果はそのまま残り、成功メールが（一度だけ）送られます。',
  'execution.stopped.failed': 'ジョブ {jobId} はすでに失敗していました: 失敗メールはキューに入っています。',
  'execution.stopped.unread':
    'ジョブ {jobId} を読めませんでした: 失敗になりメールが送られます（すでに成功していた場合は結果が残り、成功メールが送られます）。',
  'execution.stopped.none': 'この実行はジョブを登録していませんでした。',
  'graph.label': 'ワークフロー {workflow}',
  'legend.succeeded': '成功',
  'legend.failed': '失敗',
  'legend.running': '実行中',
  'legend.notRun': '未実行',
  'queues.title': 'キュー',
  'queues.ruleDeadLetters': '送信元キューのないデッドレターキュー',
  'queues.noRedrive':
    '再投入はできません: このキューにはメッセージを戻す送信元キューがありません。スケジュールを再実行するか、ワークフローを開始するか、ターゲットを再度呼び出してください。',
  'queues.deadLetters': '{queue} のデッドレター',
  'queues.preview': '再投入のプレビュー（ドライラン）',
  'queues.previewTitle': '{queue} の再投入プレビュー: 何も移動していません',
  'queues.wouldPass': '契約に合格',
  'queues.wouldFail': '再び失敗: {field}',
  'queues.summary': '合格 {valid} 件、再び失敗 {invalid} 件',
  'queues.bodyCut': '… 残りの {more} 文字は表示していません。CLI の --json なら本文全体を出力します',
  'queues.unchecked':
    '（約 {total} 件のうち先頭 {checked} 件を確認。残り {unchecked} 件は未確認ですが、再投入ではそれらも移動します）',
  'queues.redrive': '{count} 件を {queue} に再投入',
  'queues.redriven': '再投入 {status}: {moved} 件移動',
  'queues.peekNote':
    'SQS にはキューのカーソルがありません: 先頭 {limit} 件を読み取り、すぐに再び可視にします。',
  'queues.more': '{limit} 件読む',
  'async.title': '失敗した非同期呼び出し',
  'async.of': '{service} の失敗した非同期呼び出し',
  'async.intro':
    'スケジュールやルールが関数を呼び出し、すべての試行で失敗したイベントです。Lambda がその記録を {queue} に保存しています。',
  'async.count': '{service} の失敗した非同期呼び出し {count} 件',
  'async.reinvoke': 'キュー内のすべてのイベント（最大 {limit} 件）で {service} を再び呼び出す',
  'async.reinvoked': '{count} 件を再び呼び出し、その記録を削除しました',
  'col.service': 'サービス',
  'col.failures': '失敗した呼び出し',
  'col.oldest': '最古',
  'col.failedAt': '失敗日時',
  'col.condition': '条件',
  'col.attempts': '試行回数',
  'col.trigger': '呼び出し元',
  'jobs.title': 'ジョブ',
  'jobs.all': 'すべて',
  'job.title': 'ジョブ {id}',
  'job.retry': 'リトライ',
  'job.rerunning': 'タスクが失敗したため、待機後に再実行します',
  'job.stalled':
    '実行は {status} で終了しました: 再実行（Redrive）するか失敗にするまで、このジョブを実行するものはありません。',
  'job.taskFailure': 'タスクの直近の失敗',
  'job.failByCli': 'ジョブを終了するには:',
  'job.retried': 'リトライしました: 試行 {attempt} を開始',
  'job.executions': '実行（すべての試行）',
  'job.logs': 'ログ: このジョブについて関数とバッチタスクが書いたすべての行',
  'jobLogs.title': '{id} のログ',
  'jobLogs.searched':
    '{groups} 個のロググループから {count} 行（古い順）: このジョブまたはその実行を名指す行です。',
  'jobLogs.truncated':
    '古いほうから {count} 行です: `sidestep job logs {id} --limit <n>` で最大 {max} 行まで表示します。',
  'col.source': '出力元',
  'col.level': 'レベル',
  'col.fields': 'フィールド',
  'job.mails': 'メール',
  'job.mailExpired': '期限切れ: 再投入すると再び送信されます',
  'job.sweepMailRefused': '失敗通知メールは拒否され、送信されていません',
  'job.sweepMailPending': '失敗通知メールは未登録です（スイープのたびに再試行します）',
  'job.sweepMailQueued': '失敗通知メールを登録しました',
  'job.transitions': '遷移',
  'job.attemptN': '試行 {n}',
  'job.rows': '{total} 行中 {done} 行',
  'job.rowsNoTotal': 'これまでに {done} 行',
  'job.rowsExported': '{total} 行をエクスポート',
  'job.staging': 'ステージング',
  'job.stagingProgress':
    '{records} レコード、{bytes}、{segments} セグメント中 {validated} 検証済み、これまでに {rejected} 行を除外',
  'job.stagingBytes': '{total} MiB 中 {staged} MiB（{percent}%）',
  'job.stagingBytesNoTotal': '{staged} MiB',
  'job.usersWritten': '追加・変更したユーザー: {count}',
  'job.exportProgress': 'これまでのエクスポート',
  'job.exportProgressLine': '{rows} 行を読み取り、{parts} パートをアップロード（gzip {bytes} MiB）',
  'job.rejected': '除外された行（{count} 行）',
  'job.rejectedNote': 'インポートで除外されたすべての行（行番号順）。',
  'job.rejectedCsv': 'すべて CSV でダウンロード',
  'job.rowErrorsNote':
    '除外された {count} 行のうち最初の {shown} 行。インポートは失敗し、1 行も取り込まれていません。',
  'schedules.title': 'スケジュール',
  'schedules.runNow': '今すぐ実行',
  'schedules.pause': '一時停止',
  'schedules.resume': '再開',
  'schedules.fired': '{schedule} を実行しました（イベント {eventId}）',
  'schedules.paused': '{schedule} は {state} になりました',
  'schedules.localClock':
    'ローカルクラウドは自身の時計でスケジュールを実行します: 一時停止と再開は AWS で使えます。',
  'mail.title': 'メール送信箱',
  'mail.localOnly': '送信箱はローカル SMTP シンクのものです: AWS では SES から送信されます。',
  'mail.html': 'HTML',
  'mail.text': 'テキスト',
  'audit.title': '監査',
};

/** The console's languages, the first the default. */
export const LOCALES = ['en', 'ja'] as const;
export type Locale = (typeof LOCALES)[number];

const CATALOGUES: Readonly<Record<Locale, Readonly<Record<MessageKey, string>>>> = { en: EN, ja: JA };

function known(value: string | undefined): Locale | undefined {
  const base = value?.trim().toLowerCase().split('-')[0];
  return LOCALES.find((locale) => locale === base);
}

/**
 * The language of a request: `?lang=` when given (the switcher's link), else the `lang` cookie it
 * set, else the first of the browser's Accept-Language (by q-value) the console speaks, else English.
 */
export function chooseLocale(choice: {
  readonly query?: string | null | undefined;
  readonly cookie?: string | undefined;
  readonly acceptLanguage?: string | undefined;
}): Locale {
  const chosen = known(choice.query ?? undefined) ?? known(choice.cookie);
  if (chosen) return chosen;
  const ranked = (choice.acceptLanguage ?? '')
    .split(',')
    .map((part, index) => {
      const [tag, ...parameters] = part.split(';');
      const q = parameters.map((parameter) => /^\s*q=([\d.]+)\s*$/.exec(parameter)?.[1]).find(Boolean);
      return { tag, q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const entry of ranked) {
    const locale = known(entry.tag);
    if (locale) return locale;
  }
  return 'en';
}

/** Translates `key` into `locale`, filling `{name}` placeholders from `params`. */
export type Translate = (key: MessageKey, params?: Readonly<Record<string, string | number>>) => string;

/** The {@link Translate} of `locale`. */
export function translator(locale: Locale): Translate {
  const catalogue = CATALOGUES[locale];
  return (key, params = {}) =>
    catalogue[key].replace(/\{(\w+)\}/g, (placeholder, name: string) =>
      name in params ? String(params[name]) : placeholder,
    );
}
