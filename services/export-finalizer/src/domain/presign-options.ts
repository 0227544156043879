/** The methods the download endpoint answers, each redirected to a URL presigned for it. */
export const DOWNLOAD_METHODS = ['GET', 'HEAD'] as const;

/** What a presigned redirect is for: its method, its lifetime and the name the file is saved as. */
export interface PresignOptions {
  readonly method: (typeof DOWNLOAD_METHODS)[number];
  readonly expiresInSeconds: number;
  readonly fileName: string;
}
