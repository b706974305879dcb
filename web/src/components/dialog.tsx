import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { t } from '../lib/i18n.js';

/** A modal <dialog>: focus moves into it, Escape closes it, focus returns where it was. */
export function Dialog({
  title,
  open,
  onClose,
  children,
}: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose}>
      <h2 id={titleId}>{title}</h2>
      {open ? children : null}
    </dialog>
  );
}

/** "Are you sure?" with the action's own words on the confirming button. */
export function Confirm({
  open,
  title,
  text,
  action,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  text: ComponentChildren;
  action: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <Dialog title={title} open={open} onClose={onCancel}>
      <p>{text}</p>
      <div class="actions">
        <button type="button" class="danger" onClick={onConfirm}>
          {action}
        </button>
        <button type="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </Dialog>
  );
}

/** Previous / next page buttons for a paged list. */
export function Pager({
  page,
  hasNext,
  next,
  previous,
}: {
  page: number;
  hasNext: boolean;
  next: () => void;
  previous: () => void;
}) {
  return (
    <nav class="pager" aria-label={t('pager.label')}>
      <button type="button" onClick={previous} disabled={page === 0}>
        {t('pager.previous')}
      </button>
      <span>{t('pager.page', { n: page + 1 })}</span>
      <button type="button" onClick={next} disabled={!hasNext}>
        {t('pager.next')}
      </button>
    </nav>
  );
}
