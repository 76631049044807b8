/** Where a command writes: lines to stdout and stderr (the CLI's CliIO). */
export interface CommandIO {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}
