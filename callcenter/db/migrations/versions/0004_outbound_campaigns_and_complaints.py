"""Outbound campaigns (definitions, targets, attempts, dial claims, do-not-call, survey answers), complaints,
urgent callbacks, and the campaign of a call.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dial_claims',
    sa.Column('patient_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('campaign_name', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_dial_claims'))
    )
    op.create_table('campaign_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_name', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('phone_e164', sa.String(length=20), nullable=True),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_result', sa.String(length=16), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'in_progress', 'completed', 'failed', 'opted_out', "
                       "'excluded', 'expired')", name=op.f('ck_campaign_targets_status')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                            name=op.f('fk_campaign_targets_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_targets')),
    sa.UniqueConstraint('campaign_name', 'patient_id', 'subject_kind', 'subject_id',
                        name=op.f('uq_campaign_targets_campaign_name_patient_id_subject_kind_subject_id'))
    )
    with op.batch_alter_table('campaign_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_targets_campaign_name_status_next_attempt_at'),
                              ['campaign_name', 'status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_targets_patient_id'), ['patient_id'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source_yaml', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('loaded_from', sa.String(length=1024), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('discharge_followup', 'appointment_reminder', 'chronic_check', "
                       "'satisfaction_survey')", name=op.f('ck_campaigns_kind')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['users.id'],
                            name=op.f('fk_campaigns_updated_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=32), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('call_id', sa.String(length=32), nullable=True),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'resolved', 'closed')",
                       name=op.f('ck_complaints_status')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_complaints_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints')),
    sa.UniqueConstraint('serial', name=op.f('uq_complaints_serial'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_opened_at'), ['opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_patient_id'), ['patient_id'], unique=False)

    op.create_table('do_not_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=20), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('campaign_kind', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("source IN ('ivr_key', 'agent', 'admin', 'import', 'patient_request')",
                       name=op.f('ck_do_not_call_source')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                            name=op.f('fk_do_not_call_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_do_not_call_patient_id_patients'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_do_not_call'))
    )
    with op.batch_alter_table('do_not_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_do_not_call_e164'), ['e164'], unique=False)
        batch_op.create_index(batch_op.f('ix_do_not_call_patient_id'), ['patient_id'], unique=False)

    op.create_table('campaign_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('campaign_name', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=True),
    sa.Column('worker', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('amd_status', sa.String(length=16), nullable=True),
    sa.Column('amd_cause', sa.String(length=64), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('keys', sa.String(length=64), server_default='', nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.CheckConstraint("result IN ('dialing', 'person', 'machine', 'no_answer', 'busy', 'failed', "
                       "'abandoned')", name=op.f('ck_campaign_attempts_result')),
    sa.ForeignKeyConstraint(['target_id'], ['campaign_targets.id'],
                            name=op.f('fk_campaign_attempts_target_id_campaign_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_attempts'))
    )
    with op.batch_alter_table('campaign_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_attempts_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_attempts_campaign_name_started_at'),
                              ['campaign_name', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_attempts_patient_id_started_at'),
                              ['patient_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_attempts_target_id'), ['target_id'], unique=False)

    op.create_table('survey_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_name', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('call_id', sa.String(length=32), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('question', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_survey_responses_score')),
    sa.ForeignKeyConstraint(['target_id'], ['campaign_targets.id'],
                            name=op.f('fk_survey_responses_target_id_campaign_targets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_responses'))
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_responses_campaign_name'), ['campaign_name'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_name', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_calls_campaign_name'), ['campaign_name'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_campaign_name'))
        batch_op.drop_column('campaign_name')

    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_column('urgent')

    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_responses_patient_id'))
        batch_op.drop_index(batch_op.f('ix_survey_responses_created_at'))
        batch_op.drop_index(batch_op.f('ix_survey_responses_campaign_name'))

    op.drop_table('survey_responses')
    with op.batch_alter_table('campaign_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_attempts_target_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_attempts_patient_id_started_at'))
        batch_op.drop_index(batch_op.f('ix_campaign_attempts_campaign_name_started_at'))
        batch_op.drop_index(batch_op.f('ix_campaign_attempts_call_id'))

    op.drop_table('campaign_attempts')
    with op.batch_alter_table('do_not_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_do_not_call_patient_id'))
        batch_op.drop_index(batch_op.f('ix_do_not_call_e164'))

    op.drop_table('do_not_call')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_patient_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_opened_at'))

    op.drop_table('complaints')
    op.drop_table('campaigns')
    with op.batch_alter_table('campaign_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_targets_patient_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_targets_campaign_name_status_next_attempt_at'))

    op.drop_table('campaign_targets')
    op.drop_table('dial_claims')
