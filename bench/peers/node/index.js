// Benchmark peer: a Cognito custom SMS sender written the way AWS's documentation shows it for Node.js
// (AWS Encryption SDK for JavaScript with a strict KMS keyring, then SNS Publish), built once at init and
// reused across invocations. Like the Rust function, it refuses a code whose encryption context
// `userpool-id` is not the event's userPoolId.
'use strict';

const { buildClient, CommitmentPolicy, KmsKeyringNode } = require('@aws-crypto/client-node');
const { SNSClient, PublishCommand } = require('@aws-sdk/client-sns');

// Cognito encrypts with a non-committing suite (0x0378): decryption must allow it.
const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT);
const keyIds = [process.env.KEY_ARN || process.env.KMS_KEY_ARN];
const keyring = new KmsKeyringNode({ keyIds });
const sns = new SNSClient({});

const MESSAGES = {
  CustomSMSSender_SignUp: 'Your verification code is {code}.',
  CustomSMSSender_ResendCode: 'Your new verification code is {code}.',
  CustomSMSSender_ForgotPassword: 'Your password reset code is {code}.',
  CustomSMSSender_UpdateUserAttribute: 'Your code to confirm this phone number is {code}.',
  CustomSMSSender_VerifyUserAttribute: 'Your phone number verification code is {code}.',
  CustomSMSSender_Authentication: 'Your sign-in code is {code}.',
  CustomSMSSender_AdminCreateUser: 'Your temporary password is {code}.',
  CustomSMSSender_AccountTakeOverNotification: 'We noticed an unusual sign-in to your account.',
};

exports.handler = async (event) => {
  const request = event.request || {};
  const phoneNumber = (request.userAttributes || {}).phone_number;
  let plainTextCode = '';
  if (request.code) {
    const { plaintext, messageHeader } = await decrypt(keyring, Buffer.from(request.code, 'base64'));
    if (messageHeader.encryptionContext['userpool-id'] !== event.userPoolId) {
      throw new Error("encryption context userpool-id does not match the event's userPoolId");
    }
    plainTextCode = plaintext.toString('utf8');
  }
  const template = MESSAGES[event.triggerSource] || 'Your code is {code}.';
  const out = await sns.send(new PublishCommand({
    PhoneNumber: phoneNumber,
    Message: template.replace('{code}', plainTextCode),
    MessageAttributes: { 'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' } },
  }));
  return { outcome: 'sent', messageId: out.MessageId };
};
